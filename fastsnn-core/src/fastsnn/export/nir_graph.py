"""NIR interchange: FastSNN feed-forward SNNs ↔ NIR graphs (the Neuromorphic Intermediate
Representation read and written by snnTorch, Norse, SpikingJelly, Sinabs, Lava, …).

Needs the optional ``nir`` package (``pip install fastsnn-core[nir]``), imported on first use.

**Time.** A NIR graph runs step by step: stateless nodes map each step's input, neuron nodes keep
their membrane across steps. FastSNN discretises NIR's ODEs with forward Euler and step ``dt``
(FastSNN's own graphs use ``dt = 1``: ``tau`` is in steps)::

    LIF:  v_t = β·v_{t−1} + g·x_t,   β = 1 − dt/τ,  g = dt·r/τ     (v_leak must be 0)
    IF:   v_t = v_{t−1} + g·x_t,     g = dt·r
    spike z_t = [v_t > v_threshold], then v_t ← v_reset (NIR's reset is a hard reset)

An input gain ``g ≠ 1`` is folded into the neuron (threshold and reset potential divided by
``g``), which gives the same spikes. snnTorch writes ``dt = 1e-4`` graphs, Norse ``dt = 1e-3``:
pass that ``dt`` to :func:`from_nir`.

**Export** (:func:`to_nir`) traces the model with ``torch.fx`` and maps
``nn.Linear`` → Affine/Linear, ``nn.Conv1d/2d`` → Conv1d/2d, ``nn.Flatten``/``torch.flatten`` →
Flatten, ``nn.AvgPool2d`` → AvgPool2d, ``+`` → two edges into one node (NIR sums a node's inputs),
``nn.Identity``/``nn.Dropout`` → nothing, and the neurons

- ``if`` / ``lif`` (one step, or multi-step with ``time_dim=0``) → IF / LIF with hard reset;
  a soft reset (``reset="soft"``, FastSNN's default) has no NIR equivalent: it is an error, or,
  with ``soft_reset="metadata"``, the documented extension ``metadata = {"fastsnn_reset": "soft"}``
  on the node, which only FastSNN's importer honours;
- ``fixed_threshold`` (unsigned, bounded ``max_count = D``) → its exact staircase:
  ``D`` Threshold nodes at ``(k − ½)·V_th`` summed into one Scale(V_th) node, since
  ``clamp(round(x/V_th), 0, D)·V_th = V_th·Σ_k [x > (k − ½)·V_th]`` (ties at exactly
  ``(k + ½)·V_th`` round half to even in FastSNN and down in the staircase);

and a conversion's ``SpikingActivation`` (an activation, then a neuron): a ReLU before a one-step
IF/LIF or an unsigned fixed-threshold neuron changes nothing (the neuron ignores what ReLU
removes) and is dropped; any other activation is an error. What NIR cannot express — attention,
adaptive thresholds, embeddings, normalisation, int8 weights, signed or unbounded counts — is an
error naming each module, never a silently different graph.

**Import** (:func:`from_nir`) builds a :class:`NIRNetwork`: Affine/Linear → ``nn.Linear``,
Conv1d/2d, Flatten, AvgPool2d, SumPool2d (an average pool without the division), Scale,
Threshold (a stateless step) and IF/LIF → the registry's ``if``/``lif`` neurons. Node types
FastSNN does not support (CubaLIF, LI, I, Delay, subgraphs, …) are named in the error, as are
cycles (recurrent graphs).
"""

from __future__ import annotations

import operator
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import fx, nn

from fastsnn.errors import FastSNNError
from fastsnn.export.base import Exporter
from fastsnn.neuron import SpikingNeuron
from fastsnn.params import Params
from fastsnn.plugins import get_registry

INSTALL_HINT = "pip install fastsnn-core[nir]"
#: neurons NIR can carry, by registry name
NIR_NEURONS = ("if", "lif", "fixed_threshold")
#: activations a one-step neuron makes redundant (it never fires for what they remove)
DROPPABLE_ACTIVATIONS = (nn.ReLU, nn.Identity)
#: modules that map to nothing (their output is their input at inference)
PASS_THROUGH = (nn.Identity, nn.Dropout)
#: what a module without a NIR node is, in words
NO_NIR_NODE = {
    "AttentionBase": "attention mixes tokens through a cache; NIR has no attention node",
    "Embedding": "NIR has no embedding lookup",
    "LayerNorm": "NIR has no normalisation node",
    "RMSNorm": "NIR has no normalisation node",
    "Int8Linear": "int8 weights: NIR carries float weights; export the model before quantising it",
    "Int8Embedding": "NIR has no embedding lookup",
}


def import_nir() -> Any:
    """The ``nir`` package, or a FastSNNError saying how to install it."""
    try:
        import nir
    except ImportError:
        raise FastSNNError(f"NIR export and import need the nir package: {INSTALL_HINT}") from None
    return nir


# -- what a module is -------------------------------------------------------------------------------
def neuron_name(module: nn.Module) -> str | None:
    """The registry name of ``module``'s neuron class (None: not a registered neuron)."""
    if not isinstance(module, SpikingNeuron):
        return None
    for spec in get_registry().specs("neuron"):
        if spec.factory is type(module):
            return spec.name
    return type(module).__name__


def is_spiking_activation(module: nn.Module) -> bool:
    """A conversion's activation wrapper: ``module.neuron(module.activation(x))`` (duck-typed, so
    that core needs no conversion plugin)."""
    return isinstance(getattr(module, "neuron", None), SpikingNeuron) and isinstance(
        getattr(module, "activation", None), nn.Module) and not isinstance(module, SpikingNeuron)


def _no_node_reason(module: nn.Module) -> str | None:
    for cls in type(module).__mro__:
        if cls.__name__ in NO_NIR_NODE:
            return NO_NIR_NODE[cls.__name__]
    return None


def neuron_problem(module: nn.Module, soft_reset: str = "error", activation: nn.Module | None = None) -> str | None:
    """Why ``module`` (a neuron, after ``activation``) cannot be a NIR node, or None when it can."""
    name = neuron_name(module)
    p = module.params
    if name not in NIR_NEURONS:
        if name == "adaptive_threshold":
            return "its threshold adapts per token (mean |x| / k); NIR neurons have fixed thresholds"
        return f"neuron {name!r} has no NIR equivalent (NIR carries {', '.join(NIR_NEURONS)})"
    if name in ("if", "lif"):
        if p.time_dim not in (None, 0):
            return f"time_dim={p.time_dim}: NIR runs time step by step; use time_dim=0 ([T, B, ...]) or None"
        if p.reset == "soft" and soft_reset != "metadata":
            return ("reset='soft' subtracts the threshold, but NIR's IF/LIF reset to v_reset (a hard reset); "
                    "use reset='hard', or export with soft_reset='metadata' (a FastSNN extension other tools ignore)")
        if activation is not None and not isinstance(activation, nn.Identity):
            if not isinstance(activation, nn.ReLU):
                return f"the activation {type(activation).__name__} before the neuron has no NIR node"
            if p.time_dim is not None:
                return "a ReLU before a multi-step neuron changes what it integrates; NIR has no ReLU node"
        return None
    # fixed_threshold
    if p.signed:
        return "signed counts (negative spikes) have no NIR node; use signed=false"
    if p.max_count is None:
        return "unbounded counts: NIR carries a count neuron as a staircase of max_count thresholds; set max_count"
    if activation is not None and not isinstance(activation, DROPPABLE_ACTIVATIONS):
        return f"the activation {type(activation).__name__} before the neuron has no NIR node"
    return None


class _Tracer(fx.Tracer):
    """Stops at neurons, spiking activations and every module NIR maps (or refuses) as a whole."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, (SpikingNeuron, nn.Linear, nn.Conv1d, nn.Conv2d, nn.Flatten, nn.AvgPool2d, *PASS_THROUGH)):
            return True
        if is_spiking_activation(m) or _no_node_reason(m) is not None:
            return True
        return super().is_leaf_module(m, qualname) or not list(m.children())


def unsupported_modules(model: nn.Module, soft_reset: str = "error") -> list[str]:
    """One line per module of ``model`` that NIR cannot carry (empty: all of it can)."""
    wrapped = {f"{name}.{child}" if name else child for name, module in model.named_modules()
               if is_spiking_activation(module) for child, _ in module.named_children()}
    mapped = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Flatten, nn.AvgPool2d, *PASS_THROUGH, SpikingNeuron)
    problems = []
    for name, module in model.named_modules():
        if name in wrapped or any(name.startswith(w + ".") for w in wrapped):
            continue  # judged with its spiking activation
        label = f"{name or '(root)'} ({type(module).__name__})"
        reason = _no_node_reason(module)
        if reason is None and is_spiking_activation(module):
            reason = neuron_problem(module.neuron, soft_reset, module.activation)
        elif reason is None and isinstance(module, SpikingNeuron):
            reason = neuron_problem(module, soft_reset)
        elif reason is None and not list(module.children()) and not isinstance(module, mapped):
            reason = f"no NIR node for {type(module).__name__}"
        if reason:
            problems.append(f"{label}: {reason}")
    return _outermost(problems)


def _outermost(problems: list[str]) -> list[str]:
    """Drop a problem inside a module already named (``blocks.0.attn.q_proj`` under ``blocks.0.attn``)."""
    names = [p.split(" ", 1)[0] for p in problems]
    return [p for p, n in zip(problems, names)
            if not any(n != other and n.startswith(other + ".") for other in names)]


# -- export ---------------------------------------------------------------------------------------------
def to_nir(model: nn.Module, example: torch.Tensor, *, soft_reset: Literal["error", "metadata"] = "error") -> Any:
    """The NIR graph of a feed-forward FastSNN network.

    :param model: the network (e.g. a converted MLP/CNN), in eval mode.
    :param example: an input the model accepts: ``[B, *S]`` when its neurons are one-step
        (``time_dim=None``) or ``[T, B, *S]`` when they run over time (``time_dim=0``); ``S`` is the
        per-sample shape the graph's Input node gets.
    :param soft_reset: ``"metadata"`` carries soft-reset IF/LIF neurons with the FastSNN extension
        (see the module docstring) instead of refusing them.
    :returns: a ``nir.NIRGraph`` (write it with :func:`write_nir` or ``nir.write``).
    :raises FastSNNError: modules NIR cannot carry (each named), a model ``torch.fx`` cannot trace,
        or mixed one-step and multi-step neurons.
    """
    nir = import_nir()
    problems = unsupported_modules(model, soft_reset)
    if problems:
        raise FastSNNError("NIR cannot carry this model:\n  " + "\n  ".join(problems))
    lead = _leading_dims(model)
    if example.dim() <= lead:
        raise FastSNNError(f"the example input has shape {tuple(example.shape)}; this model's neurons expect "
                           f"{'[T, B, ...]' if lead == 2 else '[B, ...]'} inputs")
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # fx raises TraceError, TypeError, … on data-dependent control flow
        raise FastSNNError(f"NIR export traces the model with torch.fx, which failed: {type(err).__name__}: {err}; "
                           "NIR carries feed-forward networks whose forward() has no data-dependent branches") from None
    gm = fx.GraphModule(model, graph)
    from torch.fx.passes.shape_prop import ShapeProp

    with torch.no_grad():
        ShapeProp(gm).propagate(example)
    return _GraphBuilder(nir, gm, lead, soft_reset).build()


def _leading_dims(model: nn.Module) -> int:
    steps = {getattr(m.params, "time_dim", None) for m in model.modules() if isinstance(m, SpikingNeuron)}
    if len(steps) > 1:
        raise FastSNNError(f"the model mixes neurons with time_dim {sorted(steps, key=str)}; NIR export needs all "
                           "one-step (None) or all time-first (0)")
    return 2 if steps == {0} else 1


def _shape(node: fx.Node, lead: int) -> tuple[int, ...]:
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        raise FastSNNError(f"NIR export: no tensor shape for {node.name} (it does not produce a single tensor)")
    return tuple(int(d) for d in meta.shape[lead:])


class _GraphBuilder:
    def __init__(self, nir: Any, gm: fx.GraphModule, lead: int, soft_reset: str) -> None:
        self.nir, self.gm, self.lead, self.soft_reset = nir, gm, lead, soft_reset
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []
        self.outputs: dict[fx.Node, list[str]] = {}  # fx node → the NIR nodes whose sum it is

    def add(self, name: str, node: Any, sources: list[str]) -> list[str]:
        name = name.replace(".", "_")
        self.nodes[name] = node
        self.edges += [(s, name) for s in sources]
        return [name]

    def build(self) -> Any:
        for node in self.gm.graph.nodes:
            self.outputs[node] = self.visit(node)
        return self.nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata={"fastsnn_dt": 1.0})

    def sources(self, arg: Any) -> list[str]:
        if not isinstance(arg, fx.Node):
            raise FastSNNError(f"NIR export: a constant {arg!r} flows into the graph; NIR edges carry signals only")
        return self.outputs[arg]

    def visit(self, node: fx.Node) -> list[str]:
        nir = self.nir
        if node.op == "placeholder":
            if any(n.op == "placeholder" for n in list(self.gm.graph.nodes)[: list(self.gm.graph.nodes).index(node)]):
                raise FastSNNError("NIR export: the model takes more than one input; a NIR graph here has one")
            return self.add("input", nir.Input(input_type={"input": np.array(_shape(node, self.lead))}), [])
        if node.op == "output":
            (result,) = node.args
            return self.add("output", nir.Output(output_type={"output": np.array(_shape(result, self.lead))}),
                            self.sources(result))
        if node.op == "call_module":
            return self.visit_module(node, self.gm.get_submodule(node.target))
        if node.op == "call_function" and node.target in (operator.add, torch.add) and len(node.args) == 2:
            return self.sources(node.args[0]) + self.sources(node.args[1])  # NIR sums a node's inputs
        if (node.op == "call_function" and node.target is torch.flatten) or (
                node.op == "call_method" and node.target == "flatten"):
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
            return self.flatten(node, start, end)
        what = node.target if node.op != "call_function" else getattr(node.target, "__name__", node.target)
        raise FastSNNError(f"NIR export: {node.op} {what!r} (at {node.name}) has no NIR node; NIR carries "
                           "Linear, Conv1d/2d, Flatten, AvgPool2d, additions and IF/LIF/fixed-threshold neurons")

    def flatten(self, node: fx.Node, start: int, end: int) -> list[str]:
        (source,) = node.all_input_nodes
        shape = _shape(source, self.lead)
        full = len(shape) + self.lead
        start, end = start % full, end % full
        if start < self.lead:
            raise FastSNNError(f"NIR export: {node.name} flattens the batch/time axes; NIR flattens within a sample")
        flat = self.nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start - self.lead,
                                end_dim=end - self.lead)
        return self.add(node.name, flat, self.sources(source))

    def visit_module(self, node: fx.Node, module: nn.Module) -> list[str]:
        nir, name = self.nir, str(node.target)
        (source,) = node.all_input_nodes
        sources = self.sources(source)
        if isinstance(module, PASS_THROUGH):
            return sources
        if isinstance(module, nn.Linear):
            weight = _array(module.weight)
            if module.bias is None:
                return self.add(name, nir.Linear(weight=weight), sources)
            return self.add(name, nir.Affine(weight=weight, bias=_array(module.bias)), sources)
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            return self.add(name, self.conv(module, _shape(source, self.lead)), sources)
        if isinstance(module, nn.Flatten):
            return self.flatten(node, module.start_dim, module.end_dim)
        if isinstance(module, nn.AvgPool2d):
            if module.ceil_mode or not module.count_include_pad or module.divisor_override is not None:
                raise FastSNNError(f"{name} (AvgPool2d): ceil_mode/count_include_pad=False/divisor_override have "
                                   "no NIR equivalent")
            pool = nir.AvgPool2d(kernel_size=np.array(_pair(module.kernel_size)),
                                 stride=np.array(_pair(module.stride or module.kernel_size)),
                                 padding=np.array(_pair(module.padding)))
            return self.add(name, pool, sources)
        neuron = module.neuron if is_spiking_activation(module) else module
        return self.neuron(name, neuron, _shape(node, self.lead), sources)

    def conv(self, module: nn.Module, in_shape: tuple[int, ...]) -> Any:
        nir = self.nir
        if module.padding_mode != "zeros":
            raise FastSNNError(f"{type(module).__name__} with padding_mode={module.padding_mode!r} has no NIR equivalent")
        bias = _array(module.bias) if module.bias is not None else np.zeros(module.out_channels)
        if isinstance(module, nn.Conv1d):
            return nir.Conv1d(input_shape=int(in_shape[-1]), weight=_array(module.weight), stride=module.stride[0],
                              padding=module.padding if isinstance(module.padding, str) else module.padding[0],
                              dilation=module.dilation[0], groups=module.groups, bias=bias)
        return nir.Conv2d(input_shape=tuple(int(d) for d in in_shape[-2:]), weight=_array(module.weight),
                          stride=tuple(module.stride), padding=module.padding if isinstance(module.padding, str)
                          else tuple(module.padding), dilation=tuple(module.dilation), groups=module.groups, bias=bias)

    def neuron(self, name: str, neuron: SpikingNeuron, shape: tuple[int, ...], sources: list[str]) -> list[str]:
        nir, p = self.nir, neuron.params
        kind = neuron_name(neuron)
        full = (lambda value: np.full(shape, float(value), dtype=np.float64))  # noqa: E731
        if kind == "fixed_threshold":
            threshold = float(neuron.threshold())
            steps = []
            for k in range(1, p.max_count + 1):
                steps += self.add(f"{name}.step{k}", nir.Threshold(threshold=full((k - 0.5) * threshold)), sources)
            return self.add(f"{name}.scale", nir.Scale(scale=full(threshold)), steps)
        reset = {"v_reset": full(p.reset_potential if p.reset == "hard" else 0.0)}
        metadata = {"fastsnn_reset": "soft"} if p.reset == "soft" else {}
        if kind == "lif" and p.decay < 1:
            tau = 1.0 / (1.0 - p.decay)  # dt = 1: β = 1 − 1/τ, and r = τ makes the input gain 1
            node = nir.LIF(tau=full(tau), r=full(tau), v_leak=full(0.0), v_threshold=full(p.threshold),
                           metadata=metadata, **reset)
        else:  # if, or lif without leak
            node = nir.IF(r=full(1.0), v_threshold=full(p.threshold), metadata=metadata, **reset)
        return self.add(name, node, sources)


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _pair(value: Any) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value), int(value))


# -- import ---------------------------------------------------------------------------------------------
class Heaviside(nn.Module):
    """NIR's Threshold node: ``[x > threshold]`` elementwise, stateless; ``threshold`` has the
    per-sample shape. ``x [N, *S]`` → same shape, in ``x``'s dtype."""

    def __init__(self, threshold: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("threshold", threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > self.threshold.to(x.dtype)).to(x.dtype)


class ScaleBy(nn.Module):
    """NIR's Scale node: ``x ⊙ scale`` (``scale`` has the per-sample shape)."""

    def __init__(self, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.to(x.dtype)


class FlattenSample(nn.Module):
    """NIR's Flatten: ``start_dim … end_dim`` of the per-sample shape (batch and time excluded)."""

    def __init__(self, start_dim: int, end_dim: int) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, *S)
        sample = x.dim() - 1
        start, end = self.start_dim % sample, self.end_dim % sample
        return x.flatten(start + 1, end + 1)


class NIRNetwork(nn.Module):
    """A NIR graph as a FastSNN module: ``x [T, B, *S_in]`` (time first) → ``[T, B, *S_out]``.

    Nodes run in topological order on the whole sequence: stateless nodes on ``[T·B, *S]``,
    neurons (``time_dim=0``) over time. A node's input is the sum of its predecessors' outputs.
    """

    def __init__(self, layers: dict[str, nn.Module], order: list[str], preds: dict[str, list[str]],
                 input_name: str, output_name: str, stateful: set[str]) -> None:
        super().__init__()
        self.layers = nn.ModuleDict({_module_key(k): v for k, v in layers.items()})
        self.order, self.preds, self.input_name, self.output_name = order, preds, input_name, output_name
        self.stateful = stateful

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise FastSNNError(f"NIRNetwork takes [T, B, ...] (time first), got shape {tuple(x.shape)}; "
                               "add a time axis with x[None]")
        steps, batch = x.shape[:2]
        values: dict[str, torch.Tensor] = {self.input_name: x}
        for name in self.order:
            if name == self.input_name:
                continue
            inputs = [values[p] for p in self.preds[name]]
            total = inputs[0]
            for extra in inputs[1:]:
                total = total + extra
            if name == self.output_name:
                return total
            layer = self.layers[_module_key(name)]
            if name in self.stateful:
                values[name] = layer(total)
            else:
                out = layer(total.flatten(0, 1))
                values[name] = out.view(steps, batch, *out.shape[1:])
        raise FastSNNError("NIRNetwork: the graph's output was never reached")  # pragma: no cover


def _module_key(name: str) -> str:
    return name.replace(".", "_") or "_"


def _uniform(node_name: str, field: str, value: Any) -> float:
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0:
        raise FastSNNError(f"NIR node {node_name!r}: {field} is empty")
    if not np.all(array == array.flat[0]):
        raise FastSNNError(f"NIR node {node_name!r}: {field} differs across its {array.size} neurons; FastSNN "
                           "neurons have one value per layer")
    return float(array.flat[0])


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, (bytes, np.bytes_)) else value


def _neuron_from_nir(name: str, node: Any, kind: str, dt: float) -> nn.Module:
    threshold = _uniform(name, "v_threshold", node.v_threshold)
    v_reset = _uniform(name, "v_reset", node.v_reset if node.v_reset is not None else 0.0)
    r = _uniform(name, "r", node.r)
    if kind == "LIF":
        tau = _uniform(name, "tau", node.tau)
        if _uniform(name, "v_leak", node.v_leak) != 0.0:
            raise FastSNNError(f"NIR node {name!r}: v_leak ≠ 0 (a resting potential) has no FastSNN neuron")
        decay, gain = 1.0 - dt / tau, dt * r / tau
        if not 0.0 < decay <= 1.0:
            raise FastSNNError(
                f"NIR node {name!r}: with dt={dt} its decay 1 − dt/τ = {decay:.6g} is outside (0, 1]; pass the "
                "dt the graph was written with (snnTorch: 1e-4, Norse: 1e-3) to from_nir"
            )
    else:
        decay, gain = 1.0, dt * r
    if gain <= 0:
        raise FastSNNError(f"NIR node {name!r}: its input gain dt·r = {gain:.6g} must be positive")
    soft = _text((getattr(node, "metadata", None) or {}).get("fastsnn_reset")) == "soft"
    values: dict[str, Any] = {"threshold": threshold / gain, "time_dim": 0}
    if soft:
        values["reset"] = "soft"
    else:
        values.update(reset="hard", reset_potential=v_reset / gain)
    if decay < 1.0:
        values["decay"] = decay
        return get_registry().create("neuron", "lif", **values)
    return get_registry().create("neuron", "if", **values)


def from_nir(graph: Any, dt: float | None = None) -> NIRNetwork:
    """A :class:`NIRNetwork` computing ``graph`` (a ``nir.NIRGraph``, or a path to a ``.nir`` file).

    :param dt: the time step the graph's time constants are in (see the module docstring); default
        the graph's ``fastsnn_dt`` metadata, else 1.
    :raises FastSNNError: unsupported node types (all named), cycles, several inputs or outputs,
        per-neuron parameters that differ, or parameters outside what FastSNN's neurons take.
    """
    nir = import_nir()
    if isinstance(graph, (str, Path)):
        graph = read_nir(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise FastSNNError(f"from_nir needs a nir.NIRGraph or a .nir file path, got {type(graph).__name__}")
    if dt is None:
        dt = float((graph.metadata or {}).get("fastsnn_dt", 1.0)) if isinstance(graph.metadata, dict) else 1.0
    if not dt > 0:
        raise FastSNNError(f"dt must be positive, got {dt}")
    handled = {"Input", "Output", "Affine", "Linear", "Conv1d", "Conv2d", "Flatten", "AvgPool2d", "SumPool2d",
               "Scale", "Threshold", "IF", "LIF"}
    unsupported = sorted({f"{name} ({type(node).__name__})" for name, node in graph.nodes.items()
                          if type(node).__name__ not in handled})
    if unsupported:
        raise FastSNNError("NIR node types FastSNN does not support: " + ", ".join(unsupported)
                           + f"; supported: {', '.join(sorted(handled))}")
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise FastSNNError(f"the NIR graph has {len(inputs)} inputs and {len(outputs)} outputs; FastSNN imports "
                           "graphs with one of each")
    preds: dict[str, list[str]] = defaultdict(list)
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in graph.nodes:
                raise FastSNNError(f"the NIR graph has an edge to or from {end!r}, which is not one of its nodes")
        preds[dst].append(src)
    order = _topological_order(list(graph.nodes), graph.edges)
    layers: dict[str, nn.Module] = {}
    stateful: set[str] = set()
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind in ("Input", "Output"):
            continue
        if not preds.get(name):
            raise FastSNNError(f"NIR node {name!r} ({kind}) has no input edge")
        layers[name] = _layer_from_nir(name, node, kind, dt)
        if kind in ("IF", "LIF"):
            stateful.add(name)
    return NIRNetwork(layers, order, dict(preds), inputs[0], outputs[0], stateful).eval()


def _topological_order(names: list[str], edges: list[tuple[str, str]]) -> list[str]:
    indegree = dict.fromkeys(names, 0)
    succ: dict[str, list[str]] = defaultdict(list)
    for src, dst in edges:
        indegree[dst] += 1
        succ[src].append(dst)
    ready = [n for n in names if indegree[n] == 0]
    order = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for nxt in succ[name]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    if len(order) != len(names):
        cyclic = sorted(n for n in names if indegree[n] > 0)
        raise FastSNNError(f"the NIR graph has a cycle through {', '.join(cyclic)}; FastSNN imports feed-forward "
                           "graphs (recurrent connections are not supported)")
    return order


def _tensor(value: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value, dtype=np.float32))


def _layer_from_nir(name: str, node: Any, kind: str, dt: float) -> nn.Module:
    if kind in ("Affine", "Linear"):
        weight = _tensor(node.weight)
        if weight.dim() != 2:
            raise FastSNNError(f"NIR node {name!r}: a {kind} weight of shape {tuple(weight.shape)}; FastSNN takes 2-D")
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=kind == "Affine")
        with torch.no_grad():
            layer.weight.copy_(weight)
            if kind == "Affine":
                layer.bias.copy_(_tensor(node.bias))
        return layer
    if kind in ("Conv1d", "Conv2d"):
        weight = _tensor(node.weight)
        cls = nn.Conv1d if kind == "Conv1d" else nn.Conv2d
        padding = _text(node.padding)
        layer = cls(weight.shape[1] * node.groups, weight.shape[0], tuple(weight.shape[2:]), stride=node.stride,
                    padding=padding if isinstance(padding, str) else _as_ints(padding), dilation=node.dilation,
                    groups=node.groups, bias=True)
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(_tensor(node.bias))
        return layer
    if kind == "Flatten":
        return FlattenSample(int(node.start_dim), int(node.end_dim))
    if kind in ("AvgPool2d", "SumPool2d"):
        return nn.AvgPool2d(_as_ints(node.kernel_size), stride=_as_ints(node.stride), padding=_as_ints(node.padding),
                            divisor_override=1 if kind == "SumPool2d" else None)
    if kind == "Scale":
        return ScaleBy(_tensor(node.scale))
    if kind == "Threshold":
        return Heaviside(_tensor(node.threshold))
    return _neuron_from_nir(name, node, kind, dt)


def _as_ints(value: Any) -> Any:
    array = np.asarray(value).astype(int).reshape(-1)
    return int(array[0]) if array.size == 1 else tuple(int(v) for v in array)


# -- files ------------------------------------------------------------------------------------------------
def write_nir(graph: Any, path: str | Path) -> Path:
    """Write ``graph`` as a ``.nir`` (HDF5) file, atomically (temp file + rename)."""
    import os
    import tempfile

    from fastsnn.safe_io import check_writable_destination, current_umask

    nir = import_nir()
    path = check_writable_destination(path, ".nir file")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        nir.write(tmp, graph)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_nir(path: str | Path) -> Any:
    """Read a ``.nir`` file (HDF5; nothing is unpickled or executed).

    :raises FastSNNError: a missing file or one that is not a NIR graph.
    """
    nir = import_nir()
    path = Path(path)
    if not path.is_file():
        raise FastSNNError(f"{path} not found")
    try:
        return nir.read(str(path))
    except Exception as err:  # h5py's OSError, nir's KeyError/AssertionError on foreign files
        raise FastSNNError(f"{path}: not a readable NIR file ({type(err).__name__}: {err})") from None


class NIRExporter(Exporter):
    """Write a ``.nir`` graph of a feed-forward SNN (Linear/Conv, IF/LIF, fixed-threshold staircases)."""

    class Params(Params):
        input_shape: list[int] | None = Field(None, description="per-sample input shape S (default: the first "
                                                                  "Linear's in_features)")
        time_steps: int | None = Field(None, gt=0, description="T of the example input for time-first models")
        soft_reset: Literal["error", "metadata"] = Field(
            "error", description="soft-reset IF/LIF: refuse, or carry them as the FastSNN metadata extension")

    def unsupported(self, model: nn.Module) -> list[str]:
        return unsupported_modules(model, self.params.soft_reset)

    def export(self, model: nn.Module, path: str | Path, metadata: dict[str, Any] | None = None) -> list[Path]:
        shape = self.params.input_shape
        if shape is None:
            first = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
            if first is None:
                raise FastSNNError("NIR export: give input_shape (--set input_shape=[C,H,W]); the model has no Linear "
                                   "layer to read it from")
            shape = [first.in_features]
        lead = [self.params.time_steps or 1, 1] if _leading_dims(model) == 2 else [1]
        graph = to_nir(model.eval(), torch.zeros(*lead, *shape), soft_reset=self.params.soft_reset)
        return [write_nir(graph, path)]


__all__ = [
    "NIRExporter",
    "NIRNetwork",
    "from_nir",
    "read_nir",
    "to_nir",
    "unsupported_modules",
    "write_nir",
]
