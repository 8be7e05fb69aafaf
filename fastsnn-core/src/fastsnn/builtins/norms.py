"""Normalisation layers (kind ``norm``). :class:`RMSNorm` is the one RMSNorm of the project:
plugins (e.g. fastsnn-attention's per-head output norms) use it too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from pydantic import Field
from torch import nn

from fastsnn.params import Component, Params, resolve_params


class RMSNorm(Component, nn.Module):
    """Root-mean-square norm over the last axis: ``x / sqrt(mean(x²) + eps) · g``, computed in fp32.

    Zhang & Sennrich, "Root Mean Square Layer Normalization" (2019). ``x [..., dim]`` → same
    shape and dtype.
    """

    class Params(Params):
        eps: float = Field(1e-6, gt=0, description="added to the mean square")
        init: float = Field(1.0, description="initial value of the gain g")

    def __init__(self, dim: int, *, params: Params | Mapping[str, Any] | None = None, **values: Any) -> None:
        nn.Module.__init__(self)
        self.init_params(params, values)
        self.weight = nn.Parameter(torch.full((dim,), float(self.params.init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.params.eps)
        return (x32 * self.weight.float()).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, {self.params_repr()}"


class LayerNorm(Component, nn.LayerNorm):
    """Standard layer norm over the last axis (Ba et al. 2016); ``x [..., dim]`` → same shape."""

    class Params(Params):
        eps: float = Field(1e-5, gt=0, description="added to the variance")
        bias: bool = Field(True, description="learn an additive bias")

    def __init__(self, dim: int, *, params: Params | Mapping[str, Any] | None = None, **values: Any) -> None:
        resolved = resolve_params(type(self), params, values)
        nn.LayerNorm.__init__(self, dim, eps=resolved.eps, bias=resolved.bias)
        self.init_params(resolved, {})
