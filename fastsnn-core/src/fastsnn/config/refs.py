"""Component references in configs: ``"swa"`` or ``{name = "swa", window = 512}``.

The name is checked against the registry; the other fields are validated by that component's
own ``Params`` model, and errors keep their full path (``model.attention[3].window``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from fastsnn.errors import DuplicateComponentError, UnknownComponentError


class ComponentRef(BaseModel):
    """A reference to a registered component plus its parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)
    #: the registry kinds this reference may name, tried in order
    kinds: ClassVar[tuple[str, ...]] = ()

    name: str

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if isinstance(data, ComponentRef):
            return {"name": data.name, **data.params}
        if isinstance(data, dict) and "name" not in data:
            raise PydanticCustomError(
                "component_ref", "a component reference needs a 'name' (e.g. {{name = \"swa\", window = 512}})"
            )
        return data

    @model_validator(mode="after")
    def _check_against_registry(self) -> ComponentRef:
        from fastsnn.plugins import get_registry

        registry = get_registry()
        spec, first_error = None, None
        for kind in self.kinds:
            try:
                spec = registry.get(kind, self.name)
                break
            except UnknownComponentError as err:
                first_error = first_error or err
            except DuplicateComponentError as err:
                raise PydanticCustomError("duplicate_component", _escape(str(err))) from None
        if spec is None:
            available = sorted({n for k in self.kinds for n in registry.names(k)})
            msg = UnknownComponentError(" or ".join(self.kinds), self.name, available, first_error.hint if first_error else None)
            raise PydanticCustomError("unknown_component", _escape(str(msg)))
        try:
            spec.validate_params(self.params)
        except ValidationError as err:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(type=PydanticCustomError(e["type"], _escape(e["msg"])), loc=tuple(e["loc"]),
                                     input=e["input"])
                    for e in err.errors()
                ],
            ) from None
        object.__setattr__(self, "_kind", spec.kind)
        return self

    @property
    def params(self) -> dict[str, Any]:
        """The parameters given in the config (defaults not filled in)."""
        return dict(self.__pydantic_extra__ or {})

    @property
    def kind(self) -> str:
        """The registry kind the name resolved to."""
        return getattr(self, "_kind", self.kinds[0])

    def spec(self):
        from fastsnn.plugins import get_registry

        return get_registry().get(self.kind, self.name)

    def build(self, **context: Any) -> Any:
        """Build the component with the builder's ``context`` (e.g. ``d_model``)."""
        return self.spec().build(self.params, **context)

    @model_serializer(mode="plain")
    def _serialize(self) -> Any:
        return self.name if not self.params else {"name": self.name, **self.params}


def _escape(msg: str) -> str:
    """PydanticCustomError formats ``{...}``; keep literal braces literal."""
    return msg.replace("{", "{{").replace("}", "}}")


def ref_type(*kinds: str) -> type[ComponentRef]:
    """A ComponentRef subclass restricted to ``kinds``."""
    cls_name = "".join(k.title() for k in kinds) + "Ref"
    return type(cls_name, (ComponentRef,), {"kinds": kinds, "__module__": __name__})


NeuronRef = ref_type("neuron")
AttentionRef = ref_type("attention")
LayerMixRef = ref_type("attention", "layout")
FFNRef = ref_type("ffn")
NormRef = ref_type("norm")
CodingRef = ref_type("coding")
RuleRef = ref_type("rule")
ExporterRef = ref_type("exporter")
SurrogateRef = ref_type("surrogate")
