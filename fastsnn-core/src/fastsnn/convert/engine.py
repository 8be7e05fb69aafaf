"""The conversion engine: walk a module tree and let registered rules replace modules.

For every module (root first, then children depth-first in registration order) the rules are
tried in descending priority; the first whose ``matches`` is true replaces the module with its
``convert`` result and the walk does not enter the replacement. A module no rule matches is
kept and its children are visited. Modules that are already spiking (a
:class:`fastsnn.SpikingNeuron`, or a replacement from an earlier conversion) are left alone, so
converting twice changes nothing.

Every *position* is visited: one module object used at two places (``nn.Sequential(relu, lin,
relu)``) is seen at both. A stateless module (no parameters or buffers, e.g. an activation) gets
its own replacement at each position — each built for the width found there; a module with state
(a tied ``Linear``) shares its one replacement, so tying survives. The report names every
position and says which were shared.

Activations called as functions (``F.relu(x)``) are handled after the walk: see
:mod:`fastsnn.convert.functional` (``torch.fx`` where the module traces; named in
``report.not_converted`` where it does not).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any, Iterable, Sequence

from pydantic import BaseModel
from torch import fx, nn

from fastsnn.config.refs import ComponentRef
from fastsnn.config.run import ConvertConfig
from fastsnn.convert import functional
from fastsnn.convert.report import ConversionReport, KeptModule, NotConverted, Replacement
from fastsnn.convert.rule import CONVERTED_MARK, PREPARED, ConversionContext, ConversionRule
from fastsnn.errors import FastSNNError
from fastsnn.kind_table import DEFAULT_NEURON
from fastsnn.neuron import SpikingNeuron
from fastsnn.plugins import get_registry

RuleLike = Any  # a registered name, {"name": ..., **params}, a ComponentRef, or a ConversionRule


def convert(
    model: nn.Module,
    config: ConvertConfig | dict[str, Any] | None = None,
    *,
    rules: Sequence[RuleLike] | None = None,
    neuron: Any = None,
    d_model: int | None = None,
    inplace: bool = False,
    options: dict[str, Any] | None = None,
) -> tuple[nn.Module, ConversionReport]:
    """Convert an ANN into an SNN with the registered conversion rules.

    :param model: the network to convert (any ``nn.Module``).
    :param config: a :class:`~fastsnn.config.ConvertConfig` (or a dict validated as one):
        ``neuron``, ``rules`` and ``d_model_fallback``. Keyword arguments override it.
    :param rules: which rules to apply (names, ``{"name": ..., **params}`` dicts or
        :class:`~fastsnn.ConversionRule` objects); default every registered rule.
    :param neuron: the spiking neuron inserted for activations (name or ``{"name": ..., **params}``);
        default ``adaptive_threshold``.
    :param d_model: width assumed where it cannot be inferred from the model.
    :param inplace: modify ``model`` itself instead of a deep copy.
    :param options: free-form settings handed to the rules through the context.
    :returns: a tuple ``(converted_model, report)`` — unpack it: ``snn, report = convert(ann)``.
        ``print(report)`` lists what was replaced, what was kept, and the functional activations
        that could not be converted.
    """
    if not isinstance(model, nn.Module):
        raise FastSNNError(
            f"convert() needs a torch.nn.Module, got {type(model).__name__}; pass the model object, "
            "not its state_dict or output"
        )
    config = _validate_config(config)
    neuron = neuron if neuron is not None else (config.neuron if config is not None else DEFAULT_NEURON)
    _check_neuron(neuron)
    if d_model is None and config is not None:
        d_model = config.d_model_fallback
    if d_model is not None and (not isinstance(d_model, int) or d_model <= 0):
        raise FastSNNError(f"d_model (the fallback width) must be a positive integer, got {d_model!r}")
    if rules is None and config is not None:
        rules = config.rules
    named_rules = resolve_rules(rules)

    target = model if inplace else copy.deepcopy(model)
    context = ConversionContext(neuron=neuron, d_model=d_model, options=dict(options or {}))
    walker = _Walker(named_rules, context)
    walker.prepare(target)
    converted = walker.visit(target, "")
    converted = walker.convert_functional_calls(converted)
    walker.report.rules = [name for name, _ in named_rules]
    if not walker.report.replaced and not walker.report.not_converted:
        walker.report.notes.append(
            "nothing to convert: no module matched a rule and no activation is called as a function "
            f"({_where_types(walker.report)}); the model is returned unchanged"
        )
    _disable_fused_fast_paths(converted, walker.report)
    return converted, walker.report


def resolve_rules(rules: Iterable[RuleLike] | None) -> list[tuple[str, ConversionRule]]:
    """``(name, rule)`` pairs sorted by descending priority (ties keep the given order).

    ``None`` means every registered rule (in name order). Unknown names raise
    :class:`fastsnn.UnknownComponentError` listing what is registered.
    """
    registry = get_registry()
    if rules is None:
        pairs = [(spec.name, registry.create("rule", spec.name)) for spec in registry.specs("rule")]
        if not pairs:
            raise FastSNNError(
                "no conversion rules are registered: install fastsnn-convert (pip install fastsnn-convert) "
                "or a plugin that registers rules, or pass rules=[...] explicitly"
            )
    else:
        if isinstance(rules, (str, dict, ConversionRule, ComponentRef)):
            rules = [rules]
        pairs = [_build_rule(rule) for rule in rules]
    for name, rule in pairs:
        if not isinstance(rule, ConversionRule):
            raise FastSNNError(
                f"conversion rule {name!r} built a {type(rule).__name__}, not a fastsnn.ConversionRule; "
                "its factory must return a ConversionRule subclass instance"
            )
    order = {id(rule): i for i, (_, rule) in enumerate(pairs)}
    return sorted(pairs, key=lambda pair: (-pair[1].priority, order[id(pair[1])]))


def _build_rule(rule: RuleLike) -> tuple[str, Any]:
    if isinstance(rule, ConversionRule):
        return getattr(rule, "name", None) or type(rule).__name__, rule
    if not isinstance(rule, (str, Mapping, ComponentRef)):
        raise FastSNNError(
            f"rules must be names, {{'name': ...}} dicts or ConversionRule objects, got {type(rule).__name__}"
        )
    registry = get_registry()
    name, _params = registry.ref_parts("rule", rule)
    return name, registry.build_ref("rule", rule)


def _validate_config(config: Any) -> ConvertConfig | None:
    if config is None or isinstance(config, ConvertConfig):
        return config
    if isinstance(config, dict):
        return ConvertConfig.model_validate(config)
    if isinstance(config, BaseModel):
        return ConvertConfig.model_validate(config.model_dump())
    raise FastSNNError(f"config must be a ConvertConfig or a dict, got {type(config).__name__}")


def _check_neuron(neuron: Any) -> None:
    """Fail early on a misspelt neuron name the user gave (the default is checked when used)."""
    if neuron == DEFAULT_NEURON:
        return
    if not isinstance(neuron, (str, Mapping, ComponentRef)):
        raise FastSNNError(f"neuron must be a registered name or {{'name': ..., **params}}, got {neuron!r}")
    name, _params = get_registry().ref_parts("neuron", neuron)
    get_registry().get("neuron", name)


def _disable_fused_fast_paths(model: nn.Module, report: ConversionReport) -> None:
    """Turn off torch fast paths that would bypass a converted submodule.

    ``nn.TransformerEncoderLayer`` runs a fused kernel at inference when its activation is ReLU or
    GELU, reading the weights directly and ignoring ``self.activation``; after conversion that
    would silently skip the spiking neuron. Clearing its flag makes it call the module again.
    """
    for qualname, module in model.named_modules():
        activation = getattr(module, "activation", None)
        if getattr(module, "activation_relu_or_gelu", 0) and getattr(activation, CONVERTED_MARK, False):
            module.activation_relu_or_gelu = 0
            report.notes.append(
                f"{qualname or '(root)'}: disabled {type(module).__name__}'s fused inference path, which would "
                "bypass the converted activation"
            )


def _output_width(module: nn.Module) -> int | None:
    """Width of the features a leaf module produces, if it says (Linear, Embedding, norms, conv)."""
    for attr in ("out_features", "embedding_dim", "out_channels", "num_features"):
        value = getattr(module, attr, None)
        if isinstance(value, int):
            return value
    shape = getattr(module, "normalized_shape", None)
    if isinstance(shape, (tuple, list)) and shape and isinstance(shape[-1], int):
        return shape[-1]
    return None


def _has_state(module: nn.Module) -> bool:
    """Whether ``module`` (or anything inside it) holds parameters or buffers."""
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def _where(qualname: str) -> str:
    return qualname or "(root)"


def _where_types(report: ConversionReport) -> str:
    kinds = report.kept_types()
    return "leaf modules: " + (", ".join(f"{n}×{k}" for k, n in kinds.items()) if kinds else "none")


def _child_name(qualname: str, name: str) -> str:
    return f"{qualname}.{name}" if qualname else name


class _Walker:
    """Depth-first walk that applies rules and tracks the current feature width."""

    def __init__(self, rules: list[tuple[str, ConversionRule]], context: ConversionContext) -> None:
        self.rules = rules
        self.context = context
        self.report = ConversionReport()
        self.width: int | None = None  # output width of the last layer seen that states one
        #: id(original module) → (its first qualname, what it became there, its Replacement record)
        self.seen: dict[int, tuple[str, nn.Module, Replacement | None]] = {}
        #: the originals met so far, kept alive for the walk so that their ids are not reused
        self._originals: list[nn.Module] = []

    def prepare(self, model: nn.Module) -> None:
        """Let every rule rewrite the model before the walk (:meth:`ConversionRule.prepare`)."""
        for name, rule in self.rules:
            try:
                records = rule.prepare(model, self.context)
            except FastSNNError as err:
                raise FastSNNError(f"conversion rule {name!r} (preparing the model): {err}") from err
            except Exception as err:
                raise FastSNNError(
                    f"conversion rule {name!r} failed preparing the model: {type(err).__name__}: {err}"
                ) from err
            for record in records or []:
                if not isinstance(record, Replacement):
                    raise FastSNNError(
                        f"conversion rule {name!r}: prepare() must return a list of fastsnn.convert.Replacement, "
                        f"got a {type(record).__name__}"
                    )
                self.report.replaced.append(dataclasses.replace(record, rule=record.rule or name))

    # -- the module walk ----------------------------------------------------------------------------
    def visit(self, module: nn.Module, qualname: str) -> nn.Module:
        earlier = self.seen.get(id(module))
        if earlier is not None:
            return self._visit_again(module, qualname, *earlier)
        result, record = self._visit_first(module, qualname)
        self.seen[id(module)] = (qualname, result, record)
        self._originals.append(module)
        return result

    def _visit_first(self, module: nn.Module, qualname: str) -> tuple[nn.Module, Replacement | None]:
        if getattr(module, CONVERTED_MARK, False) == PREPARED:  # listed by the rule's prepare()
            self.width = _output_width(module) or self.width
            return module, None
        if isinstance(module, SpikingNeuron) or getattr(module, CONVERTED_MARK, False):
            self.report.kept.append(KeptModule(qualname, type(module).__name__, "already spiking"))
            return module, None
        for name, rule in self.rules:
            if self._matches(name, rule, module, qualname):
                return self._replace(name, rule, module, qualname)
        # every position, including a module object registered twice (named_children skips repeats)
        children = [(n, c) for n, c in module._modules.items() if c is not None]
        if not children:
            self.report.kept.append(KeptModule(qualname, type(module).__name__, "no rule matched"))
            self.width = _output_width(module) or self.width
            return module, None
        for child_name, child in children:
            new_child = self.visit(child, _child_name(qualname, child_name))
            if new_child is not child:
                setattr(module, child_name, new_child)
        return module, None

    def _visit_again(self, module: nn.Module, qualname: str, first: str, result: nn.Module,
                     record: Replacement | None) -> nn.Module:
        """A module object met at a second position (``qualname``); it was first at ``first``."""
        kind = type(module).__name__
        if result is not module and _has_state(module):
            # a replacement that holds the module's state: share it, so tied weights stay tied
            assert record is not None
            self.report.replaced.append(dataclasses.replace(
                record, qualname=qualname, note=f"the same {kind} object as {_where(first)}: shares its replacement"))
            self.report.notes.append(
                f"{_where(qualname)} is the same {kind} object as {_where(first)} (it has parameters or buffers): "
                f"both positions share one {type(result).__name__}"
            )
            self.width = _output_width(module) or self.width
            return result
        if result is module and any(True for _ in module.children()):
            self.report.notes.append(
                f"{_where(qualname)} is the same {kind} object as {_where(first)}: converted there, shared here"
            )
            return module
        new, _record = self._visit_first(module, qualname)
        if new is not module:
            self.report.notes.append(
                f"{_where(qualname)} is the same {kind} object as {_where(first)}: each position got its own "
                f"{type(new).__name__}"
            )
        return new

    def _matches(self, name: str, rule: ConversionRule, module: nn.Module, qualname: str) -> bool:
        try:
            return bool(rule.matches(module, qualname))
        except FastSNNError:
            raise
        except Exception as err:
            raise FastSNNError(
                f"conversion rule {name!r} failed deciding whether it matches {_where(qualname)} "
                f"({type(module).__name__}): {type(err).__name__}: {err}"
            ) from err

    def _matching_rule(self, module: nn.Module, qualname: str) -> tuple[str, ConversionRule] | None:
        for name, rule in self.rules:
            if self._matches(name, rule, module, qualname):
                return name, rule
        return None

    def _build(self, name: str, rule: ConversionRule, module: nn.Module, qualname: str) -> nn.Module:
        """The rule's replacement for ``module``, marked as converted (errors name rule and module)."""
        where = _where(qualname)
        try:
            replacement = rule.convert(module, qualname, self.context)
        except FastSNNError as err:
            raise FastSNNError(f"conversion rule {name!r} on {where} ({type(module).__name__}): {err}") from err
        except Exception as err:
            raise FastSNNError(
                f"conversion rule {name!r} failed on {where} ({type(module).__name__}): "
                f"{type(err).__name__}: {err}"
            ) from err
        if not isinstance(replacement, nn.Module):
            raise FastSNNError(
                f"conversion rule {name!r} returned {type(replacement).__name__} for {where}; "
                "a rule's convert() must return an nn.Module"
            )
        setattr(replacement, CONVERTED_MARK, True)
        return replacement

    def _replace(self, name: str, rule: ConversionRule, module: nn.Module,
                 qualname: str) -> tuple[nn.Module, Replacement]:
        self.context.feature_dim = self.width
        replacement = self._build(name, rule, module, qualname)
        record = Replacement(qualname, type(module).__name__, type(replacement).__name__, name,
                             self.context.width, rule.describe(module, replacement))
        self.report.replaced.append(record)
        self.width = _output_width(module) or self.width
        return replacement, record

    # -- functional activations ---------------------------------------------------------------------
    def convert_functional_calls(self, root: nn.Module) -> nn.Module:
        """Convert (or report) activations called as functions inside ``root``; returns the new root.

        Modules are handled children first, so a parent traced later sees its rewritten children
        as leaves; a rewritten module replaces the original at every position it occupies.
        """
        positions: dict[int, list[tuple[nn.Module | None, str]]] = {}
        order: list[tuple[str, nn.Module]] = []

        def collect(module: nn.Module, qualname: str, parent: nn.Module | None, name: str) -> None:
            first_time = id(module) not in positions
            positions.setdefault(id(module), []).append((parent, name))
            if not first_time or isinstance(module, SpikingNeuron) or getattr(module, CONVERTED_MARK, False):
                return
            order.append((qualname, module))
            for child_name, child in module._modules.items():
                if child is not None:
                    collect(child, _child_name(qualname, child_name), module, child_name)

        collect(root, "", None, "")
        for qualname, module in reversed(order):
            new = self._functional_calls_of(module, qualname)
            if new is module:
                continue
            for parent, name in positions[id(module)]:
                if parent is None:
                    root = new
                else:
                    parent._modules[name] = new
        return root

    def _functional_calls_of(self, module: nn.Module, qualname: str) -> nn.Module:
        """``module`` with its own functional activations converted, or ``module`` itself."""
        if isinstance(module, functional.ACTIVATION_ATTRIBUTE_LAYERS):
            self._activation_attribute(module, qualname)
            return module
        if not functional.is_traceable(module):
            return module
        kind = type(module).__name__
        try:
            graph = functional.shallow_trace(module)
        except Exception as err:  # any failure of user code under tracing: report it, convert nothing
            message = str(err).strip().splitlines()[0] if str(err).strip() else ""
            reason = f"{kind}.forward does not trace with torch.fx ({type(err).__name__}: {message[:160]})"
            self._not_converted(module, qualname, reason)
            return module
        calls = [(node, call) for node in graph.nodes if (call := functional.activation_call(node)) is not None]
        if not calls:
            return module
        if functional.reads_training_flag(module):
            reason = f"its methods read self.training, which tracing {kind}.forward with torch.fx would freeze"
            for _node, (label, name) in calls:
                equivalent, _inplace = functional.equivalent_module(name, (None,), {})
                if self._matching_rule(equivalent, qualname) is not None:
                    self.report.not_converted.append(NotConverted(qualname, label, reason))
            return module
        widths = functional.node_widths(graph, module, _output_width)
        converted = 0
        for node, call in calls:
            if self._convert_node(module, qualname, graph, node, *call, widths):
                converted += 1
        if not converted:
            return module
        graph.lint()
        new = functional.graph_module(module, graph)
        self.report.notes.append(
            f"{_where(qualname)} ({kind}): {converted} functional activation(s) converted by tracing its forward "
            "with torch.fx; it is now a GraphModule (same children, parameters and buffers; methods other "
            "than forward are not kept)"
        )
        return new

    def _convert_node(self, module: nn.Module, qualname: str, graph: fx.Graph, node: fx.Node,
                      label: str, name: str, widths: dict[fx.Node, int | None]) -> bool:
        """Replace one activation call by the matching rule's module; report it if none can."""
        try:
            equivalent, inplace = functional.equivalent_module(name, tuple(node.args), dict(node.kwargs))
        except functional.Unsupported as err:
            self.report.not_converted.append(NotConverted(qualname, label, f"{err}"))
            return False
        child = functional.free_name(module, f"fx_{node.name}")
        child_qualname = _child_name(qualname, child)
        match = self._matching_rule(equivalent, child_qualname)
        if match is None:
            self.report.not_converted.append(NotConverted(qualname, label, "no rule matched"))
            return False
        source = node.args[0] if node.args else None
        if inplace and isinstance(source, fx.Node) and len(source.users) > 1:
            self.report.not_converted.append(NotConverted(
                qualname, label, "an in-place call whose input is used again afterwards (it relies on the "
                "modification); call it out of place (x = F.relu(x)) to convert it"))
            return False
        self.context.feature_dim = widths.get(node)
        rule_name, rule = match
        replacement = self._build(rule_name, rule, equivalent, child_qualname)
        module.add_module(child, replacement)
        note = rule.describe(equivalent, replacement)
        self.report.replaced.append(Replacement(
            child_qualname, label, type(replacement).__name__, rule_name, self.context.width,
            (f"{note}; " if note else "") + f"functional call in {type(module).__name__}.forward"))
        with graph.inserting_after(node):
            call = graph.call_module(child, args=(source,))
        node.replace_all_uses_with(call)
        graph.erase_node(node)
        return True

    def _activation_attribute(self, layer: nn.Module, qualname: str) -> None:
        """A torch Transformer layer's function-valued ``activation``: replace it by the rule's module."""
        activation = vars(layer).get("activation")
        try:
            hit = functional.FUNCTIONS.get(activation)
        except TypeError:
            hit = None
        if hit is None:
            return
        label, name = hit
        equivalent, _inplace = functional.equivalent_module(name, (None,), {})
        child_qualname = _child_name(qualname, "activation")
        match = self._matching_rule(equivalent, child_qualname)
        if match is None:
            self.report.not_converted.append(NotConverted(
                qualname, f"activation={label}", "no rule matched"))
            return
        linear1 = getattr(layer, "linear1", None)
        self.context.feature_dim = _output_width(linear1) if isinstance(linear1, nn.Module) else None
        rule_name, rule = match
        replacement = self._build(rule_name, rule, equivalent, child_qualname)
        del vars(layer)["activation"]
        layer.activation = replacement
        note = rule.describe(equivalent, replacement)
        self.report.replaced.append(Replacement(
            child_qualname, label, type(replacement).__name__, rule_name, self.context.width,
            (f"{note}; " if note else "") + f"was the function in {type(layer).__name__}.activation"))

    def _not_converted(self, module: nn.Module, qualname: str, reason: str) -> None:
        """Report each activation ``module`` may call as a function that some rule would convert."""
        for name, how in functional.mentioned_activations(module).items():
            equivalent, _inplace = functional.equivalent_module(name, (None,), {})
            if self._matching_rule(equivalent, qualname) is None:
                continue
            self.report.not_converted.append(NotConverted(qualname, f"{name} ({how})", reason))
