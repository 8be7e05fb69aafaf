"""FastSNN core: SpikeTensor, the plugin contract, the registry, configs and the model builder.

Components (neurons, attention kernels, codings, conversion rules, exporters, …) come from
plugins found through the ``fastsnn`` entry-point group; see :mod:`fastsnn.hookspecs` and the
kinds table in :mod:`fastsnn.kind_table`.
"""

from fastsnn.attention import AttentionBase, LayerCache
from fastsnn.benchmark import Benchmark
from fastsnn.builtins.norms import RMSNorm
from fastsnn.coding import IntegrateFireCoding, SpikeCoding
from fastsnn.convert.rule import ConversionContext, ConversionRule
from fastsnn.errors import (
    ConfigError,
    DuplicateComponentError,
    FastSNNError,
    PluginError,
    UnknownComponentError,
)
from fastsnn.export.base import Exporter
from fastsnn.factory import build_ref, components, create, kinds
from fastsnn.hookspecs import hookimpl
from fastsnn.kind_table import DEFAULT_NEURON, Kind
from fastsnn.loading import load
from fastsnn.model.lm import from_pretrained
from fastsnn.neuron import SpikingNeuron
from fastsnn.params import Component, Params
from fastsnn.plugins import PLUGIN_API_VERSION, get_plugin_manager, get_registry
from fastsnn.spike_tensor import SpikeTensor
from fastsnn.spikescope import scope
from fastsnn.surrogate import Surrogate

try:
    from importlib.metadata import version as _version

    __version__ = _version("fastsnn-core")
except Exception:  # pragma: no cover - source tree without install
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_NEURON",
    "PLUGIN_API_VERSION",
    "AttentionBase",
    "Benchmark",
    "Component",
    "ConfigError",
    "ConversionContext",
    "ConversionRule",
    "DuplicateComponentError",
    "Exporter",
    "FastSNNError",
    "IntegrateFireCoding",
    "Kind",
    "LayerCache",
    "Params",
    "PluginError",
    "RMSNorm",
    "SpikeCoding",
    "SpikeTensor",
    "SpikingNeuron",
    "Surrogate",
    "UnknownComponentError",
    "__version__",
    "build_ref",
    "components",
    "create",
    "from_pretrained",
    "get_plugin_manager",
    "get_registry",
    "hookimpl",
    "kinds",
    "load",
    "scope",
]
