"""Feature maps φ for linear attention, and the extension point for adding more.

Linear attention replaces ``exp(q·k)`` by ``φ(q)·φ(k)``. Normalising by the running key sum
(``norm="z"``) divides by ``φ(q)·Σφ(k)``, which is only a valid (positive) weight sum when φ is
non-negative, so every feature map declares whether it is.

Built in: ``relu``, ``elu1`` (``elu(x) + 1``), ``softplus``, ``relu2`` (``relu(x)²``), and the
signed ``identity``. Add more in either of two ways:

- in-process: ``register_feature_map("cos", torch.cos, nonnegative=False)``;
- from an installed distribution, without importing this package, through the entry-point
  group ``fastsnn_attention.feature_maps``::

      [project.entry-points."fastsnn_attention.feature_maps"]
      hedgehog = "my_pkg.features:hedgehog"   # a callable; set hedgehog.nonnegative = True

Entry points are loaded once, on the first lookup; a broken one is skipped and named in the
error for an unknown feature map.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Callable

import torch
from torch.nn import functional as F

from fastsnn.errors import FastSNNError, UnknownComponentError

ENTRY_POINT_GROUP = "fastsnn_attention.feature_maps"


@dataclass(frozen=True)
class FeatureMap:
    """A named elementwise map ``φ: [..., D] → [..., D]`` and whether its values are ≥ 0."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    nonnegative: bool
    description: str = ""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _elu1(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1.0


def _relu2(x: torch.Tensor) -> torch.Tensor:
    return F.relu(x).square()


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


BUILTIN_FEATURE_MAPS: dict[str, FeatureMap] = {
    fm.name: fm
    for fm in (
        FeatureMap("relu", F.relu, True, "max(x, 0): sparse, spike-friendly (SpikingBrain)"),
        FeatureMap("elu1", _elu1, True, "elu(x) + 1 > 0 (Katharopoulos et al. 2020)"),
        FeatureMap("softplus", F.softplus, True, "log(1 + e^x) > 0"),
        FeatureMap("relu2", _relu2, True, "relu(x)²"),
        FeatureMap("identity", _identity, False, "x itself (signed: use norm='rmsnorm' or 'none')"),
    )
}

_registered: dict[str, FeatureMap] = {}
_from_entry_points: dict[str, FeatureMap] | None = None
_broken_entry_points: dict[str, str] = {}


def register_feature_map(
    name: str, fn: Callable[[torch.Tensor], torch.Tensor], *, nonnegative: bool, description: str = ""
) -> FeatureMap:
    """Make ``fn`` available as ``feature_map=name``; a name already in use is an error."""
    if not name.isidentifier():
        raise FastSNNError(f"feature map name must be an identifier, got {name!r}")
    if not callable(fn):
        raise FastSNNError(f"feature map {name!r}: fn must be callable, got {type(fn).__name__}")
    if name in _all_feature_maps():
        raise FastSNNError(f"feature map {name!r} is already registered; pick another name")
    fm = FeatureMap(name, fn, bool(nonnegative), description)
    _registered[name] = fm
    return fm


def unregister_feature_map(name: str) -> None:
    """Remove a feature map added with :func:`register_feature_map` (built-ins stay)."""
    _registered.pop(name, None)


def _load_entry_points() -> dict[str, FeatureMap]:
    global _from_entry_points
    if _from_entry_points is None:
        found: dict[str, FeatureMap] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
                if isinstance(obj, FeatureMap):
                    found[ep.name] = obj
                elif callable(obj):
                    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
                    found[ep.name] = FeatureMap(ep.name, obj, bool(getattr(obj, "nonnegative", False)),
                                                doc[0] if doc else "")
                else:
                    raise TypeError(f"{ep.value} is not callable")
            except Exception as err:
                _broken_entry_points[ep.name] = f"{type(err).__name__}: {err}"
        _from_entry_points = found
    return _from_entry_points


def _all_feature_maps() -> dict[str, FeatureMap]:
    return {**_load_entry_points(), **_registered, **BUILTIN_FEATURE_MAPS}


def feature_map_names() -> list[str]:
    """Every usable feature map name, sorted."""
    return sorted(_all_feature_maps())


def get_feature_map(name: str) -> FeatureMap:
    """Look up a feature map; an unknown name lists the available ones and the closest match."""
    maps = _all_feature_maps()
    if name in maps:
        return maps[name]
    hint = None
    if _broken_entry_points:
        hint = "broken feature-map entry points: " + "; ".join(f"{n}: {e}" for n, e in _broken_entry_points.items())
    raise UnknownComponentError("feature map", name, list(maps), hint)
