"""Normalisation layers (kind ``norm``)."""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square norm: ``x / sqrt(mean(x²) + eps) · g`` over the last axis."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        eps: float = Field(1e-6, gt=0, description="added to the mean square")

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x32 * self.weight.float()).to(dtype)


class LayerNorm(nn.LayerNorm):
    """Standard layer norm over the last axis."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        eps: float = Field(1e-5, gt=0)
        bias: bool = True

    def __init__(self, dim: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__(dim, eps=eps, bias=bias)
