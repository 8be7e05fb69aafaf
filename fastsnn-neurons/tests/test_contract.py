"""Plugin contract 2.0: each parameter declared once; every public object survives pickle and
deepcopy; neurons know nothing of the run modes installed on them from outside."""

import ast
import copy
import inspect
import pickle
from pathlib import Path

import pytest
import torch

import fastsnn
from fastsnn import IntegrateFireCoding, Surrogate
from fastsnn.plugins import get_registry

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "fastsnn_neurons"
KINDS = ["neuron", "surrogate", "coding", "benchmark"]


def registered(kind):
    return [(spec.name, spec.factory) for spec in get_registry().specs(kind)
            if spec.factory.__module__.startswith("fastsnn_neurons")]


@pytest.mark.parametrize("kind", KINDS)
def test_every_parameter_is_declared_once(kind):
    """No Params field in any __init__ signature; the registry and the constructor agree."""
    assert registered(kind)
    for name, cls in registered(kind):
        fields = set(cls.Params.model_fields)
        signature = set(inspect.signature(cls.__init__).parameters)
        assert not fields & signature, f"{kind} {name}: {sorted(fields & signature)} repeated in __init__"
        assert issubclass(cls.Params, fastsnn.Params), f"{kind} {name}: Params must subclass fastsnn.Params"
        assert fastsnn.create(kind, name).params == cls().params


def test_keywords_and_params_objects_build_the_same_component():
    neuron_cls = get_registry().get("neuron", "adaptive_threshold").factory
    by_keyword = neuron_cls(k=4.0, signed=False)
    by_params = neuron_cls(params=neuron_cls.Params(k=4.0, signed=False))
    assert by_keyword.params == by_params.params and by_keyword.params.k == 4.0
    with pytest.raises(TypeError):
        neuron_cls(4.0)  # keywords only: a positional value names no parameter
    with pytest.raises(fastsnn.FastSNNError, match="bad parameters for AdaptiveThresholdNeuron:\n  kk: Extra inputs"):
        neuron_cls(kk=4.0)


def test_the_contracts_live_in_core_and_are_re_exported():
    import fastsnn_neurons
    from fastsnn_neurons.codings import CODINGS, LinearCoding
    from fastsnn_neurons.surrogates import SURROGATES

    assert fastsnn_neurons.Surrogate is Surrogate and fastsnn_neurons.IntegrateFireCoding is IntegrateFireCoding
    assert all(issubclass(cls, Surrogate) for cls in SURROGATES)
    assert all(issubclass(cls, LinearCoding) and issubclass(cls, IntegrateFireCoding) for cls in CODINGS)
    assert issubclass(get_registry().get("benchmark", "neurons").factory, fastsnn.Benchmark)


# -- pickle and deepcopy ----------------------------------------------------------------------------
NEURONS = [
    {"name": "adaptive_threshold", "k": 4.0, "surrogate": {"name": "atan", "alpha": 3.0}},
    {"name": "fixed_threshold", "threshold": 0.3, "max_count": 4},
    {"name": "lif_sint", "time_dim": 0, "decay": 0.75},
    {"name": "if", "reset": "hard", "reset_potential": -0.5, "time_dim": 0},
    {"name": "lif", "surrogate": "triangle", "time_dim": 1},
]
COPIERS = {"pickle": lambda obj: pickle.loads(pickle.dumps(obj)), "deepcopy": copy.deepcopy}


@pytest.mark.parametrize("copier", sorted(COPIERS))
@pytest.mark.parametrize("ref", NEURONS, ids=[n["name"] for n in NEURONS])
def test_neurons_survive_pickle_and_deepcopy(ref, copier):
    neuron = fastsnn.build_ref("neuron", ref)
    if ref["name"] == "fixed_threshold":
        with torch.no_grad():
            neuron.raw_threshold.fill_(0.45)  # trained state travels too
    clone = COPIERS[copier](neuron)
    assert type(clone) is type(neuron) and clone.params == neuron.params
    assert type(clone.surrogate) is type(neuron.surrogate) and clone.surrogate.params == neuron.surrogate.params
    x = torch.randn(4, 3, 6, requires_grad=True)
    y = x.detach().clone().requires_grad_(True)
    assert torch.equal(clone(x), neuron(y))
    clone(x).sum().backward()
    neuron(y).sum().backward()
    assert torch.equal(x.grad, y.grad)


@pytest.mark.parametrize("copier", sorted(COPIERS))
def test_surrogates_codings_and_the_benchmark_survive_pickle_and_deepcopy(copier):
    u = torch.linspace(-2, 2, 9)
    for name, _ in registered("surrogate"):
        surrogate = fastsnn.create("surrogate", name)
        clone = COPIERS[copier](surrogate)
        assert clone.params == surrogate.params and repr(clone) == repr(surrogate)
        assert torch.equal(clone.derivative(u), surrogate.derivative(u))
        assert clone.constant_derivative == surrogate.constant_derivative
    counts = torch.tensor([0, 3, 1, 6])
    for name, _ in registered("coding"):
        coding = fastsnn.create("coding", name)
        clone = COPIERS[copier](coding)
        assert clone.params == coding.params and clone.name == name
        assert torch.equal(clone.encode(counts), coding.encode(counts))
    bench = fastsnn.create("benchmark", "neurons", batch=3, external=False)
    clone = COPIERS[copier](bench)
    assert clone.params == bench.params and clone.device == bench.device


# -- the shape of the package -----------------------------------------------------------------------
def _imports(path: Path) -> tuple[set[str], list[str]]:
    """Modules imported anywhere in ``path``, and ``line: import`` of those inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules, nested = set(), []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nested += [f"{path.name}:{n.lineno}" for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules, nested


def test_no_function_level_imports_and_neurons_do_not_import_their_run_modes():
    nested = [where for path in sorted(PACKAGE.rglob("*.py")) for where in _imports(path)[1]]
    assert not nested, f"function-level imports: {nested}"
    for path in sorted((PACKAGE / "neurons").glob("*.py")):
        modules, _ = _imports(path)
        assert not modules & {"fastsnn_neurons.events", "fastsnn_neurons.stats"}, path.name
