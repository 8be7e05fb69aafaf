"""The conversion engine: walk a module tree and let registered rules replace modules.

For every module (root first, then children depth-first in registration order) the rules are
tried in descending priority; the first whose ``matches`` is true replaces the module with its
``convert`` result and the walk does not enter the replacement. A module no rule matches is
kept and its children are visited. Modules that are already spiking (a
:class:`fastsnn.SpikingNeuron`, or a replacement from an earlier conversion) are left alone, so
converting twice changes nothing.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Sequence

from pydantic import BaseModel
from torch import nn

from fastsnn.config.refs import ComponentRef
from fastsnn.config.run import ConvertConfig
from fastsnn.convert.report import ConversionReport, KeptModule, Replacement
from fastsnn.convert.rule import CONVERTED_MARK, ConversionContext, ConversionRule
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
    :returns: ``(converted_model, report)``; ``print(report)`` lists what was replaced and kept.
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
    converted = walker.visit(target, "")
    walker.report.rules = [name for name, _ in named_rules]
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
    registry = get_registry()
    if isinstance(rule, ConversionRule):
        return getattr(rule, "name", None) or type(rule).__name__, rule
    if isinstance(rule, ComponentRef):
        return rule.name, registry.create("rule", rule.name, **rule.params)
    if isinstance(rule, str):
        return rule, registry.create("rule", rule)
    if isinstance(rule, dict):
        if "name" not in rule:
            raise FastSNNError(f"a rule reference needs a 'name', got {rule!r}")
        params = {k: v for k, v in rule.items() if k != "name"}
        return rule["name"], registry.create("rule", rule["name"], **params)
    raise FastSNNError(
        f"rules must be names, {{'name': ...}} dicts or ConversionRule objects, got {type(rule).__name__}"
    )


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
    if neuron == DEFAULT_NEURON or isinstance(neuron, ComponentRef):
        return
    name = neuron if isinstance(neuron, str) else neuron.get("name") if isinstance(neuron, dict) else None
    if name is None:
        raise FastSNNError(f"neuron must be a registered name or {{'name': ..., **params}}, got {neuron!r}")
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


class _Walker:
    """Depth-first walk that applies rules and tracks the current feature width."""

    def __init__(self, rules: list[tuple[str, ConversionRule]], context: ConversionContext) -> None:
        self.rules = rules
        self.context = context
        self.report = ConversionReport()
        self.width: int | None = None  # output width of the last layer seen that states one

    def visit(self, module: nn.Module, qualname: str) -> nn.Module:
        if isinstance(module, SpikingNeuron) or getattr(module, CONVERTED_MARK, False):
            self.report.kept.append(KeptModule(qualname, type(module).__name__, "already spiking"))
            return module
        for name, rule in self.rules:
            if self._matches(name, rule, module, qualname):
                return self._replace(name, rule, module, qualname)
        children = list(module.named_children())
        if not children:
            self.report.kept.append(KeptModule(qualname, type(module).__name__, "no rule matched"))
            self.width = _output_width(module) or self.width
            return module
        for child_name, child in children:
            new_child = self.visit(child, f"{qualname}.{child_name}" if qualname else child_name)
            if new_child is not child:
                setattr(module, child_name, new_child)
        return module

    def _matches(self, name: str, rule: ConversionRule, module: nn.Module, qualname: str) -> bool:
        try:
            return bool(rule.matches(module, qualname))
        except FastSNNError:
            raise
        except Exception as err:
            raise FastSNNError(
                f"conversion rule {name!r} failed deciding whether it matches {qualname or '(root)'} "
                f"({type(module).__name__}): {type(err).__name__}: {err}"
            ) from err

    def _replace(self, name: str, rule: ConversionRule, module: nn.Module, qualname: str) -> nn.Module:
        where = qualname or "(root)"
        self.context.feature_dim = self.width
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
        self.report.replaced.append(
            Replacement(qualname, type(module).__name__, type(replacement).__name__, name,
                        self.context.width, rule.describe(module, replacement))
        )
        self.width = _output_width(module) or self.width
        return replacement
