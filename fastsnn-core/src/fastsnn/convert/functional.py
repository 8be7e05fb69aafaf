"""Activations called as functions (``F.relu(x)`` in a ``forward``): found and offered to the rules.

Conversion rules match modules, but many networks call their activations as functions —
``F.relu(h)``, ``torch.sigmoid(g)``, ``h.relu()``, or a function kept in an attribute like
``nn.TransformerEncoderLayer``'s default ``self.activation = F.relu``. The engine handles them
here, after the module walk:

1. **trace** — every module whose class is not torch's own (and not already converted) has its
   ``forward`` traced with ``torch.fx``, its submodules kept as leaves (so only its own code is
   read; whatever tracing assigns to the module's attributes is put back).
2. **convert** — each activation call in the graph (:data:`FUNCTIONS`, :data:`METHODS`; also
   through helper functions and lambdas, which fx follows) becomes the equivalent module
   (:func:`equivalent_module`: ``F.gelu(x, approximate="tanh")`` → ``nn.GELU("tanh")``) and the
   rules are asked about it as about any module; a matching rule's replacement is added to the
   module (named ``fx_<call>``) and called in place of the function. The module becomes a
   ``torch.fx.GraphModule`` running the rewritten forward, with every child, parameter and buffer
   of the original under the same names (the state dict is unchanged); its other methods are not
   kept, which the report says.
3. **report** — what cannot be converted is listed in ``report.not_converted`` with the reason:
   a forward that does not trace (data-dependent control flow, torch's fused fast paths; the
   activations its code names are listed, :func:`mentioned_activations`), one that reads
   ``self.training`` (tracing would freeze the mode), an in-place call whose input is used again,
   or arguments that are not constants. Only calls some rule would convert are listed.

``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` do not trace, but they call
their ``activation`` attribute in one place (``self.activation(x)``), so a function there is
replaced by the rule's module directly (and the engine turns off the encoder's fused path).
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import fx, nn
from torch.nn import functional as F

# -- the activation table ---------------------------------------------------------------------------


def _relu(input: Any, inplace: bool = False) -> tuple[nn.Module, bool]:
    return nn.ReLU(), inplace


def _relu6(input: Any, inplace: bool = False) -> tuple[nn.Module, bool]:
    return nn.ReLU6(), inplace


def _gelu(input: Any, approximate: str = "none") -> tuple[nn.Module, bool]:
    return nn.GELU(approximate=approximate), False


def _silu(input: Any, inplace: bool = False) -> tuple[nn.Module, bool]:
    return nn.SiLU(), inplace


def _hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> tuple[nn.Module, bool]:
    return nn.Hardtanh(min_val, max_val), inplace


def _leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> tuple[nn.Module, bool]:
    return nn.LeakyReLU(negative_slope), inplace


def _elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> tuple[nn.Module, bool]:
    return nn.ELU(alpha), inplace


def _celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> tuple[nn.Module, bool]:
    return nn.CELU(alpha), inplace


def _selu(input: Any, inplace: bool = False) -> tuple[nn.Module, bool]:
    return nn.SELU(), inplace


def _mish(input: Any, inplace: bool = False) -> tuple[nn.Module, bool]:
    return nn.Mish(), inplace


def _hardswish(input: Any, inplace: bool = False) -> tuple[nn.Module, bool]:
    return nn.Hardswish(), inplace


def _softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> tuple[nn.Module, bool]:
    return nn.Softplus(beta, threshold), False


def _tanh(input: Any) -> tuple[nn.Module, bool]:
    return nn.Tanh(), False


def _sigmoid(input: Any) -> tuple[nn.Module, bool]:
    return nn.Sigmoid(), False


#: base name → builder ``(input, *args, **kwargs) -> (equivalent module, in place?)``, with the
#: function's own signature and defaults (so the call's arguments bind as they would)
BUILDERS: dict[str, Callable[..., tuple[nn.Module, bool]]] = {
    "relu": _relu, "relu6": _relu6, "gelu": _gelu, "silu": _silu, "hardtanh": _hardtanh,
    "leaky_relu": _leaky_relu, "elu": _elu, "celu": _celu, "selu": _selu, "mish": _mish,
    "hardswish": _hardswish, "softplus": _softplus, "tanh": _tanh, "sigmoid": _sigmoid,
}


def _functions() -> dict[Any, tuple[str, str]]:
    """Function object → (label for the report, name in :data:`BUILDERS` with ``_`` if in place)."""
    table: dict[Any, tuple[str, str]] = {}
    for prefix, namespace in (("torch", torch), ("F", F)):  # F last: its label wins where both name one object
        for base in BUILDERS:
            for name in (base, base + "_"):
                fn = getattr(namespace, name, None)
                if callable(fn) and not inspect.isclass(fn):
                    table[fn] = (f"{prefix}.{name}", name)
    return table


#: activation functions by identity (``F.relu``, ``torch.relu``, ``F.relu_``, …)
FUNCTIONS: dict[Any, tuple[str, str]] = _functions()
#: tensor methods with the same meaning (``x.relu()``, ``x.sigmoid_()``, …)
METHODS: frozenset[str] = frozenset(
    name for base in BUILDERS for name in (base, base + "_") if callable(getattr(torch.Tensor, name, None))
)


class Unsupported(Exception):
    """A functional activation that cannot be offered to the rules (the message says why)."""


def equivalent_module(name: str, args: tuple, kwargs: dict[str, Any]) -> tuple[nn.Module, bool]:
    """The module computing ``name(*args, **kwargs)`` and whether the call was in place.

    ``name`` is a key of :data:`BUILDERS`, optionally with a trailing ``_`` (in place). ``args[0]``
    is the input; every other argument must be a constant.

    :raises Unsupported: an argument is itself computed (an fx node) or the call does not bind.
    """
    base, inplace = (name[:-1], True) if name.endswith("_") else (name, False)
    builder = BUILDERS[base]
    if any(isinstance(a, fx.Node) for a in (*args[1:], *kwargs.values())):
        raise Unsupported("its arguments besides the input are computed, not constants")
    try:
        module, inplace_arg = builder(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise Unsupported(f"its arguments do not fit {base}(): {err}") from None
    return module, inplace or bool(inplace_arg)


def activation_call(node: fx.Node) -> tuple[str, str] | None:
    """``(label, name)`` if ``node`` calls an activation (``("F.relu", "relu")``), else None."""
    if node.op == "call_function":
        try:
            return FUNCTIONS.get(node.target)
        except TypeError:  # an unhashable target
            return None
    if node.op == "call_method" and node.target in METHODS:
        return f"Tensor.{node.target}", str(node.target)
    return None


# -- finding candidates -------------------------------------------------------------------------------


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _own_classes(cls: type) -> list[type]:
    """``cls`` and its bases, without torch's own classes and ``object``."""
    return [c for c in cls.__mro__ if c is not object and not c.__module__.startswith("torch")]


def names_in_code(module: nn.Module) -> set[str]:
    """Every global and attribute name the methods of ``module``'s class (and its non-torch bases) use."""
    names: set[str] = set()
    for cls in _own_classes(type(module)):
        for value in vars(cls).values():
            fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            code = getattr(fn, "__code__", None)
            if isinstance(code, types.CodeType):
                names |= _code_names(code)
    return names


def mentioned_activations(module: nn.Module) -> dict[str, str]:
    """Activation names ``module`` may call as functions: ``{name: how}``.

    ``how`` is ``"named in its code"`` (its methods use the name ``relu``, ``gelu``, …, and no
    submodule has that name) or ``"attribute 'act' holds F.relu"``.
    """
    found: dict[str, str] = {}
    code_names = names_in_code(module)
    for base in BUILDERS:
        for name in (base, base + "_"):
            if name in code_names and name not in module._modules:
                found.setdefault(name, "named in its code")
    for attr, value in vars(module).items():
        try:
            hit = FUNCTIONS.get(value)
        except TypeError:
            hit = None
        if hit is not None:
            found[hit[1]] = f"attribute {attr!r} holds {hit[0]}"
    return found


def is_traceable(module: nn.Module) -> bool:
    """Whether ``module``'s own forward is worth tracing: a class from outside torch (torch's
    layers *are* the activations, or call them in ways handled elsewhere) that defines forward."""
    return not type(module).__module__.startswith("torch") and type(module).forward is not nn.Module.forward


def reads_training_flag(module: nn.Module) -> bool:
    """Whether ``module``'s methods read ``self.training`` (tracing would freeze its value)."""
    return "training" in names_in_code(module)


# -- tracing and rewriting ----------------------------------------------------------------------------


class _ShallowTracer(fx.Tracer):
    """Trace only the root's own code: every submodule is a leaf (one ``call_module`` node)."""

    def __init__(self, root: nn.Module) -> None:
        super().__init__()
        self._root = root

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return m is not self._root


def shallow_trace(module: nn.Module) -> fx.Graph:
    """``module``'s forward as an fx graph, its submodules as leaves.

    Tracing runs the forward on proxies; whatever it assigns to the module's attributes on the
    way (a cached value, a counter) is put back afterwards.

    :raises Exception: whatever tracing raised (the caller reports it).
    """
    saved = dict(vars(module))
    saved_parts = {key: dict(saved[key]) for key in ("_parameters", "_buffers", "_modules") if key in saved}
    try:
        return _ShallowTracer(module).trace(module)
    finally:
        for key in [k for k in vars(module) if k not in saved]:
            del vars(module)[key]
        for key, value in saved.items():
            if vars(module).get(key) is not value:
                object.__setattr__(module, key, value)
        for key, contents in saved_parts.items():
            part = vars(module)[key]
            part.clear()
            part.update(contents)


def graph_module(original: nn.Module, graph: fx.Graph) -> fx.GraphModule:
    """A GraphModule running ``graph`` that holds *every* child, parameter and buffer of
    ``original`` under its name (fx alone would copy only what the graph uses, and rebuild
    nested containers as plain modules), so the state dict keeps its keys."""
    gm = fx.GraphModule(original, graph, class_name=type(original).__name__)
    gm._tracer_cls = None  # pickling re-traces the generated code with fx's own tracer (ours needs a root)
    for name, child in original._modules.items():
        gm._modules[name] = child
    for name, param in original._parameters.items():
        gm._parameters[name] = param
    for name, buffer in original._buffers.items():
        gm.register_buffer(name, buffer, persistent=name not in original._non_persistent_buffers_set)
    gm.train(original.training)
    return gm


def node_widths(graph: fx.Graph, root: nn.Module, output_width: Callable[[nn.Module], int | None]) -> dict[fx.Node, int | None]:
    """The feature width reaching each node, as the module walk infers it: a submodule call that
    states its output width (a Linear's ``out_features``) sets it, anything else passes on the
    width of its first tensor input."""
    widths: dict[fx.Node, int | None] = {}
    for node in graph.nodes:
        inherited = next((widths.get(a) for a in node.args if isinstance(a, fx.Node)), None)
        if node.op == "call_module":
            widths[node] = output_width(root.get_submodule(str(node.target))) or inherited
        else:
            widths[node] = inherited
    return widths


def free_name(module: nn.Module, wanted: str) -> str:
    """``wanted``, or ``wanted_2``, ``wanted_3``, … — the first that is not an attribute of ``module``."""
    name, n = wanted, 1
    while hasattr(module, name):
        n += 1
        name = f"{wanted}_{n}"
    return name


#: torch layers that call a function-valued ``activation`` attribute as ``self.activation(x)``
ACTIVATION_ATTRIBUTE_LAYERS: tuple[type[nn.Module], ...] = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)
