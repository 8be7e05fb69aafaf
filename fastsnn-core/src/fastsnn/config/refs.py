"""Component references in configs: ``"swa"`` or ``{name = "swa", window = 512}``.

The name is checked against the registry; the other fields are validated by that component's
own ``Params`` model, and errors keep their full path (``model.attention[3].window``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from fastsnn.errors import DuplicateComponentError, FastSNNError, UnknownComponentError, format_validation_error
from fastsnn.plugins import get_registry
from fastsnn.registry import ComponentSpec


class ComponentRef(BaseModel):
    """A reference to a registered component plus its parameters (defaults not filled in)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    #: the registry kinds this reference may name, tried in order
    kinds: ClassVar[tuple[str, ...]] = ()
    #: marks references for the registry (which cannot import this module)
    __fastsnn_ref__: ClassVar[bool] = True

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
                "component_ref", 'a component reference needs a \'name\' (e.g. {name = "swa", window = 512})'
            )
        return data

    @model_validator(mode="after")
    def _check_against_registry(self) -> ComponentRef:
        registry = get_registry()
        spec, first_error = None, None
        for kind in self.kinds:
            try:
                spec = registry.get(kind, self.name)
                break
            except UnknownComponentError as err:
                first_error = first_error or err
            except DuplicateComponentError as err:
                raise PydanticCustomError("duplicate_component", str(err)) from None
        if spec is None:
            available = sorted({n for k in self.kinds for n in registry.names(k)})
            msg = UnknownComponentError(" or ".join(self.kinds), self.name, available,
                                        first_error.hint if first_error else None)
            raise PydanticCustomError("unknown_component", str(msg))
        try:
            spec.validate_params(self.params)
        except ValidationError as err:
            raise ValidationError.from_exception_data(
                f"{spec.kind} {spec.name!r} parameters",
                [
                    InitErrorDetails(type=PydanticCustomError(e["type"], e["msg"]), loc=tuple(e["loc"]),
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

    def spec(self) -> ComponentSpec:
        return get_registry().get(self.kind, self.name)

    def build(self, **context: Any) -> Any:
        """Build the component with the builder's ``context`` (e.g. ``d_model``)."""
        return get_registry().create(self.kind, self.name, **context, **self.params)

    @model_serializer(mode="plain")
    def _serialize(self) -> Any:
        return self.name if not self.params else {"name": self.name, **self.params}

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle by value through the registry-checked constructor (subclasses may be made at run time)
        return _rebuild_ref, (self.kinds, self.model_dump())

    def __deepcopy__(self, memo: dict[int, Any]) -> ComponentRef:
        return self  # frozen: sharing is safe


def _rebuild_ref(kinds: tuple[str, ...], data: Any) -> ComponentRef:
    return ref_type(*kinds).model_validate(data)


_REF_TYPES: dict[tuple[str, ...], type[ComponentRef]] = {}


def ref_type(*kinds: str) -> type[ComponentRef]:
    """The ComponentRef subclass restricted to ``kinds`` (one class per tuple of kinds)."""
    if not kinds or not all(isinstance(k, str) for k in kinds):
        raise FastSNNError(f"ref_type needs one or more kind names, got {kinds!r}")
    if kinds not in _REF_TYPES:
        cls_name = "Ref_" + "_or_".join(kinds)
        _REF_TYPES[kinds] = type(cls_name, (ComponentRef,), {"kinds": kinds, "__module__": __name__,
                                                             "__qualname__": cls_name})
    return _REF_TYPES[kinds]


def to_ref(kind: str, value: Any) -> ComponentRef:
    """A name, a ``{"name": ..., **params}`` mapping or a ComponentRef as a validated reference of ``kind``.

    :raises FastSNNError: the name is unknown or the params are invalid (with the field paths).
    """
    try:
        return ref_type(kind).model_validate(value)
    except ValidationError as err:
        raise FastSNNError(f"bad {kind} reference {value!r}:\n{format_validation_error(err, kind)}") from None


class NeuronRef(ComponentRef):
    kinds: ClassVar[tuple[str, ...]] = ("neuron",)


class AttentionRef(ComponentRef):
    kinds: ClassVar[tuple[str, ...]] = ("attention",)


class LayerMixRef(ComponentRef):
    """An attention kernel or a layout name."""

    kinds: ClassVar[tuple[str, ...]] = ("attention", "layout")


class FFNRef(ComponentRef):
    kinds: ClassVar[tuple[str, ...]] = ("ffn",)


class NormRef(ComponentRef):
    kinds: ClassVar[tuple[str, ...]] = ("norm",)


class CodingRef(ComponentRef):
    kinds: ClassVar[tuple[str, ...]] = ("coding",)


class RuleRef(ComponentRef):
    kinds: ClassVar[tuple[str, ...]] = ("rule",)


class ExporterRef(ComponentRef):
    kinds: ClassVar[tuple[str, ...]] = ("exporter",)


class SurrogateRef(ComponentRef):
    kinds: ClassVar[tuple[str, ...]] = ("surrogate",)


for _cls in (NeuronRef, AttentionRef, LayerMixRef, FFNRef, NormRef, CodingRef, RuleRef, ExporterRef, SurrogateRef):
    _REF_TYPES[_cls.kinds] = _cls
