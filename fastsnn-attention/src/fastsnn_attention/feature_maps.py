"""Feature maps φ for linear attention: the component kind ``feature_map`` and the built-ins.

Linear attention replaces ``exp(q·k)`` by ``φ(q)·φ(k)``. Normalising by the running key sum
(``norm="z"``) divides by ``φ(q)·Σφ(k)``, which is only a valid (positive) weight sum when φ is
non-negative, so every feature map declares whether it is (``nonnegative``).

``feature_map`` is a component kind like ``neuron`` or ``attention``: fastsnn-attention declares
it through ``fastsnn_register_kinds`` (see :mod:`fastsnn_attention.plugin`) and registers the
built-ins — ``relu``, ``elu1`` (``elu(x) + 1``), ``softplus``, ``relu2`` (``relu(x)²``) and the
signed ``identity`` — through ``fastsnn_register_feature_maps``. Any plugin adds more through
that hook, with a :class:`FeatureMap` subclass::

    class CosMap(FeatureMap):
        '''cos(x), signed.'''
        nonnegative = False

        def forward(self, x):
            return torch.cos(x)

    @fastsnn.hookimpl
    def fastsnn_register_feature_maps(register):
        register("cos", CosMap)

They are then listed by ``fastsnn list feature_map``, described by ``fastsnn info feature_map
cos``, and named in configs (``{name = "linear", feature_map = "cos", norm = "rmsnorm"}``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn import Component, Params


class FeatureMap(Component, nn.Module):
    """Base class of feature maps (kind ``feature_map``): ``x [..., D]`` → ``φ(x) [..., D]``, same dtype.

    Subclasses implement :meth:`forward` and set the class attribute ``nonnegative`` (whether
    ``φ(x) ≥ 0`` for every ``x``); both are checked when the registering plugin loads. Settings,
    if any, go in a nested ``Params`` (a :class:`fastsnn.Params`) and are read from
    ``self.params``. A feature map is a module of the attention layer that uses it, so learned
    parameters train and save with the layer.
    """

    #: whether every output is ≥ 0 (required of every subclass; ``norm="z"`` needs True)
    nonnegative: ClassVar[bool]

    def __init__(self, *, params: Params | Mapping[str, Any] | None = None, **values: Any) -> None:
        nn.Module.__init__(self)
        self.init_params(params, values)

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``φ(x)``, elementwise or along the last axis: ``[..., D]`` → ``[..., D]``."""

    def extra_repr(self) -> str:
        return self.params_repr()


class ReLUMap(FeatureMap):
    """max(x, 0): sparse, spike-friendly (SpikingBrain)."""

    nonnegative = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x)


class ELU1Map(FeatureMap):
    """elu(x) + 1 > 0 (Katharopoulos et al. 2020)."""

    nonnegative = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(x) + 1.0


class SoftplusMap(FeatureMap):
    """log(1 + e^x) > 0."""

    nonnegative = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(x)


class ReLU2Map(FeatureMap):
    """relu(x)²."""

    nonnegative = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x).square()


class IdentityMap(FeatureMap):
    """x itself (signed: use norm='rmsnorm' or 'none')."""

    nonnegative = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


#: The feature maps this package registers, by name.
BUILTIN_FEATURE_MAPS: dict[str, type[FeatureMap]] = {
    "relu": ReLUMap,
    "elu1": ELU1Map,
    "softplus": SoftplusMap,
    "relu2": ReLU2Map,
    "identity": IdentityMap,
}
