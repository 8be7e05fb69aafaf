"""FastSNN core: SpikeTensor, the plugin contract, the registry, configs and the model builder.

Components (neurons, attention kernels, codings, conversion rules, exporters, …) come from
plugins found through the ``fastsnn`` entry-point group; see :mod:`fastsnn.hookspecs`.
"""

from fastsnn.attention import AttentionBase, LayerCache
from fastsnn.coding import SpikeCoding
from fastsnn.conversion import ConversionContext, ConversionRule
from fastsnn.errors import (
    ConfigError,
    DuplicateComponentError,
    FastSNNError,
    PluginError,
    UnknownComponentError,
)
from fastsnn.factory import build_ref, components, create, kinds
from fastsnn.hookspecs import hookimpl
from fastsnn.neuron import SpikingNeuron
from fastsnn.plugins import PLUGIN_API_VERSION, get_plugin_manager, get_registry
from fastsnn.spike_tensor import SpikeTensor

try:
    from importlib.metadata import version as _version

    __version__ = _version("fastsnn-core")
except Exception:  # pragma: no cover - source tree without install
    __version__ = "0+unknown"

__all__ = [
    "PLUGIN_API_VERSION",
    "AttentionBase",
    "ConfigError",
    "ConversionContext",
    "ConversionRule",
    "DuplicateComponentError",
    "FastSNNError",
    "LayerCache",
    "PluginError",
    "SpikeCoding",
    "SpikeTensor",
    "SpikingNeuron",
    "UnknownComponentError",
    "__version__",
    "build_ref",
    "components",
    "create",
    "get_plugin_manager",
    "get_registry",
    "hookimpl",
    "kinds",
]
