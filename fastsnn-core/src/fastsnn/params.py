"""Component hyperparameters, declared once.

Every registered component declares its hyperparameters in one place: a nested ``Params`` class
(a :class:`Params` subclass: type, default, bounds and description per field). Nothing else
repeats them — not ``__init__``, not a dict handed to a second validation::

    class StepNeuron(fastsnn.SpikingNeuron):
        class Params(fastsnn.Params):
            threshold: float = Field(1.0, gt=0, description="V_th")

        def spikes(self, x):
            n = torch.floor(x / self.params.threshold)      # validated values live in self.params
            ...

The registry validates a config's values against ``Params`` once and builds the component as
``Component(**context, params=validated)``; from Python, ``StepNeuron(threshold=2.0)`` is
validated by the same model. Either way the instance holds the result in ``self.params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from fastsnn.errors import FastSNNError, format_validation_error


class Params(BaseModel):
    """Base of every component's ``Params``: unknown fields are errors; defaults and assignments are
    validated too (so a default ``"ste"`` becomes a checked component reference)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True)


class NoParams(Params):
    """The ``Params`` of a component without hyperparameters."""


def resolve_params(owner: type, params: BaseModel | Mapping[str, Any] | None, values: Mapping[str, Any]) -> BaseModel:
    """Validate ``params`` (a ``Params`` instance, a mapping or None) plus keyword ``values`` against
    ``owner.Params``.

    A ``params`` object that already is an ``owner.Params`` (what the registry passes) is returned
    as it is, without a second validation.

    :raises FastSNNError: a value is invalid or unknown; the message names ``owner`` and each field.
    """
    model: type[BaseModel] = getattr(owner, "Params", NoParams)
    if isinstance(params, model) and not values:
        return params
    if params is None:
        data: dict[str, Any] = {}
    elif isinstance(params, BaseModel):
        data = params.model_dump()
    elif isinstance(params, Mapping):
        data = dict(params)
    else:
        raise FastSNNError(
            f"{owner.__name__}: params must be a {model.__name__}, a mapping or None, got {type(params).__name__}"
        )
    try:
        return model.model_validate({**data, **values})
    except ValidationError as err:
        raise FastSNNError(f"bad parameters for {owner.__name__}:\n{format_validation_error(err)}") from None


class Component:
    """Mixin of registered component classes: ``Params`` declared once, values in ``self.params``.

    Kind base classes (:class:`fastsnn.SpikingNeuron`, :class:`fastsnn.AttentionBase`, ...) call
    :meth:`init_params` in their ``__init__``; a subclass only declares ``Params``.
    """

    Params: ClassVar[type[BaseModel]] = NoParams
    params: BaseModel

    def init_params(self, params: BaseModel | Mapping[str, Any] | None, values: Mapping[str, Any]) -> None:
        """Validate and store ``self.params`` (see :func:`resolve_params`)."""
        object.__setattr__(self, "params", resolve_params(type(self), params, values))

    def params_repr(self) -> str:
        """``k=3.0, signed=True`` — the params as ``extra_repr`` text."""
        return ", ".join(f"{k}={v!r}" for k, v in self.params.model_dump().items())
