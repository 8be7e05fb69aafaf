"""The ``neurons`` benchmark (``fastsnn bench neurons``): neuron fwd+bwd time and autograd memory
side by side with ReLU (and SpikingJelly / snnTorch when importable), and coding encode/decode.

Timings are medians (or minima, ``statistic="min"``) over ``repeats`` rounds after ``warmup`` runs, in one process, with the
cases of one shape interleaved round-robin so that load from other processes hits them alike.
``saved_MiB`` is the bytes of the distinct tensor storages autograd keeps for the backward pass
(collected with ``torch.autograd.graph.saved_tensors_hooks``) plus the output: the activation
memory a layer adds to training, which is what differs between neurons (CPU allocators expose
no peak). On CUDA, ``peak_MiB`` is the allocator's true peak during one fwd+bwd.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, Literal

import torch
from pydantic import Field
from torch.nn import functional as F

import fastsnn
from fastsnn import Benchmark, FastSNNError, Params
from fastsnn.benchmark import Progress, time_interleaved

CODING_NAMES = ("binary", "ternary", "bitwise", "bitwise_bidirectional", "twos_complement")
Step = Callable[[torch.Tensor], torch.Tensor]


class NeuronBenchmark(Benchmark):
    """Neuron fwd+bwd time/memory vs ReLU, SpikingJelly LIF and snnTorch Leaky; coding speed.

    Settings are ``Params`` (``fastsnn bench neurons --set threads=2``); build it with keywords
    (``NeuronBenchmark(batch=4)``) or through the registry, then call ``run(progress)``.
    """

    class Params(Params):
        batch: int = Field(64, gt=0, description="B")
        features: int = Field(4096, gt=0, description="D")
        steps: int = Field(8, gt=0, description="T for multi-step neurons (and max_count for 'same information')")
        repeats: int = Field(30, gt=0, description="timed runs per case (the median is reported)")
        warmup: int = Field(5, ge=0, description="untimed runs per case")
        threads: int | None = Field(None, gt=0, description="torch.set_num_threads (None: leave as is)")
        coding_values: int = Field(1_000_000, gt=0, description="counts to encode/decode per coding")
        external: bool = Field(True, description="also time SpikingJelly and snnTorch if importable")
        device: str = Field("cpu", description="torch device to run on ('cpu', 'cuda'); CUDA also reports peak memory")
        statistic: Literal["median", "min"] = Field(
            "median", description="per-case time reported: median of the rounds, or min (robust on a loaded machine)"
        )
        seed: int = Field(0, description="torch.manual_seed before the run (inputs and weights)")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            self.device = torch.device(self.params.device)
        except RuntimeError as err:
            raise FastSNNError(f"benchmark 'neurons': bad device {self.params.device!r}: {err}") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise FastSNNError("benchmark 'neurons': device='cuda' asked for, but torch sees no CUDA device")

    # -- running ----------------------------------------------------------------------------------
    def run(self, progress: Progress) -> list[dict[str, Any]]:
        """All rows: one per neuron case, one per coding, then one per goal. ``progress(message)``
        is told what is being timed."""
        p = self.params
        if p.threads is not None:
            torch.set_num_threads(p.threads)
        torch.manual_seed(p.seed)
        rows = self._neuron_rows(progress)
        rows += self._coding_rows(progress)
        rows += self._goal_rows(rows)
        return rows

    def _neuron_rows(self, progress: Progress) -> list[dict[str, Any]]:
        p = self.params
        single = torch.randn(p.batch, p.features, device=self.device)
        multi = torch.randn(p.steps, p.batch, p.features, device=self.device)
        cases: list[tuple[str, torch.Tensor, Step | None, str]] = [
            ("relu", single, F.relu, "torch.relu"),
            ("adaptive_threshold", single, fastsnn.create("neuron", "adaptive_threshold"), "signed, ste (default)"),
            ("adaptive_threshold[D=T]", single,
             fastsnn.create("neuron", "adaptive_threshold", signed=False, max_count=p.steps),
             f"unsigned, max_count={p.steps}: as much information as {p.steps} binary steps"),
            ("adaptive_threshold[atan]", single,
             fastsnn.create("neuron", "adaptive_threshold", surrogate="atan"), "reference path, atan surrogate"),
            ("fixed_threshold", single, fastsnn.create("neuron", "fixed_threshold"), "learnable V_th"),
            ("lif_sint", single, fastsnn.create("neuron", "lif_sint"), "one step (time-collapsed)"),
            ("relu[T]", multi, F.relu, f"torch.relu on [T={p.steps}, B, D]"),
            ("lif_sint[T]", multi, fastsnn.create("neuron", "lif_sint", time_dim=0), f"T={p.steps} steps"),
            ("if[T]", multi, fastsnn.create("neuron", "if", time_dim=0), f"T={p.steps}, atan"),
            ("lif[T]", multi, fastsnn.create("neuron", "lif", time_dim=0), f"T={p.steps}, atan"),
        ]
        if p.external:
            cases += self._external_cases(multi, progress)
        medians: dict[str, float] = {}
        for x in (single, multi):  # interleave cases of one shape (mixing sizes would time page faults)
            group = {name: self._fwd_bwd_call(step, x_) for name, x_, step, _ in cases if step is not None and x_ is x}
            progress(f"neurons: timing {', '.join(group)} (interleaved, {p.repeats} rounds)")
            medians.update(self._interleaved(group))
        rows = []
        for name, x, step, note in cases:
            timed = step is not None
            rows.append({"section": "neuron", "case": name, "shape": _shape(x),
                         "fwd_bwd_ms": round(medians[name], 4) if timed else None,
                         "saved_MiB": round(_autograd_bytes(step, x) / 2**20, 3) if timed else None,
                         "peak_MiB": self._peak_mib(step, x) if timed else None,
                         "vs_relu": None, "note": note})
        relu_ms = {row["shape"]: row["fwd_bwd_ms"] for row in rows if row["case"].startswith("relu")}
        for row in rows:  # each case against the ReLU of its own shape ([B, D] or [T, B, D])
            if row["fwd_bwd_ms"] is not None:
                row["vs_relu"] = round(row["fwd_bwd_ms"] / relu_ms[row["shape"]], 2)
        return rows

    def _external_cases(self, multi: torch.Tensor, progress: Progress) -> list[tuple[str, torch.Tensor, Step | None, str]]:
        cases: list[tuple[str, torch.Tensor, Step | None, str]] = []
        try:
            sj_neuron = importlib.import_module("spikingjelly.activation_based.neuron")
            sj_functional = importlib.import_module("spikingjelly.activation_based.functional")
            options: dict[str, Any] = {"step_mode": "m"}
            if "backend" in inspect.signature(sj_neuron.LIFNode.__init__).parameters:  # 0.0.0.x API
                options["backend"] = "torch"
            node = sj_neuron.LIFNode(**options).to(self.device)

            def spikingjelly_lif(x: torch.Tensor) -> torch.Tensor:
                sj_functional.reset_net(node)
                return node(x)

            version = getattr(importlib.import_module("spikingjelly"), "__version__", "?")
            cases.append(("spikingjelly LIFNode[T]", multi, spikingjelly_lif,
                          f"spikingjelly {version}, LIFNode(step_mode='m'), tau=2, sigmoid surrogate"))
        except Exception as err:
            progress(f"neurons: skipping SpikingJelly ({type(err).__name__}: {err})")
            cases.append(("spikingjelly LIFNode[T]", multi, None, f"skipped: not importable ({type(err).__name__})"))
        try:
            snntorch = importlib.import_module("snntorch")
            leaky = snntorch.Leaky(beta=0.5).to(self.device)

            def snntorch_leaky(x: torch.Tensor) -> torch.Tensor:
                mem = leaky.init_leaky()
                spikes = []
                for current in x:
                    spk, mem = leaky(current, mem)
                    spikes.append(spk)
                return torch.stack(spikes)

            cases.append(("snntorch Leaky[T]", multi, snntorch_leaky,
                          f"snntorch {getattr(snntorch, '__version__', '?')}, beta=0.5, loop over T"))
        except Exception as err:
            progress(f"neurons: skipping snnTorch ({type(err).__name__}: {err})")
            cases.append(("snntorch Leaky[T]", multi, None, f"skipped: not importable ({type(err).__name__})"))
        return cases

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _peak_mib(self, step: Step, x: torch.Tensor) -> float | None:
        """CUDA only: peak allocated memory of one fwd+bwd above what was allocated before it."""
        if self.device.type != "cuda":
            return None
        call = self._fwd_bwd_call(step, x)
        self._sync()
        torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device)
        call()
        self._sync()
        return round((torch.cuda.max_memory_allocated(self.device) - before) / 2**20, 3)

    @staticmethod
    def _fwd_bwd_call(step: Step, x: torch.Tensor) -> Callable[[], Any]:
        """One forward + backward of ``step`` on a fresh leaf copy of ``x``."""
        grad_out = torch.randn_like(x)

        def call() -> None:
            leaf = x.detach().requires_grad_(True)
            step(leaf).backward(grad_out)

        return call

    def _interleaved(self, calls: dict[str, Callable[[], Any]]) -> dict[str, float]:
        """Median (or min, per ``statistic``) ms per call, timed round-robin (one run of each per round),
        so that load from other processes hits every case alike and the ratios stay meaningful."""
        p = self.params
        seconds = time_interleaved(calls, repeats=p.repeats, warmup=p.warmup, statistic=p.statistic,
                                   device=self.device)
        return {name: s * 1e3 for name, s in seconds.items()}

    def _coding_rows(self, progress: Progress) -> list[dict[str, Any]]:
        p = self.params
        neuron = fastsnn.create("neuron", "adaptive_threshold")
        values = torch.randn(p.coding_values // p.features + 1, p.features, device=self.device)
        signed_counts = neuron.spikes(values).counts.detach().to(torch.int64).flatten()[: p.coding_values]
        dense = torch.randn(p.coding_values, device=self.device)
        calls: dict[str, Callable[[], Any]] = {"relu": lambda: F.relu(dense),
                                                "relu fwd+bwd": self._fwd_bwd_call(F.relu, dense)}
        trains = {}
        for name in CODING_NAMES:
            coding = fastsnn.create("coding", name)
            counts = signed_counts if coding.signed else signed_counts.abs()
            events = coding.encode(counts)
            if not torch.equal(coding.decode(events), counts):  # a benchmark of a wrong result is worthless
                raise AssertionError(f"coding {name} did not round-trip")
            trains[name] = (counts, events)
            calls[f"{name} encode"] = lambda coding=coding, counts=counts: coding.encode(counts)
            calls[f"{name} decode"] = lambda coding=coding, events=events: coding.decode(events)
        progress(f"neurons: timing codings {', '.join(CODING_NAMES)} (interleaved with ReLU)")
        medians = self._interleaved(calls)
        rows = [{"section": "coding", "case": "relu (same count of floats)", "shape": _shape(dense),
                 "encode_ms": round(medians["relu"], 4), "decode_ms": None,
                 "fwd_bwd_ms": round(medians["relu fwd+bwd"], 4), "steps": None,
                 "note": "reference: ReLU forward (encode_ms column) and fwd+bwd on as many floats"}]
        for name, (counts, events) in trains.items():
            rows.append({"section": "coding", "case": name, "shape": _shape(counts),
                         "encode_ms": round(medians[f"{name} encode"], 4),
                         "decode_ms": round(medians[f"{name} decode"], 4), "fwd_bwd_ms": None,
                         "steps": int(events.shape[0]),
                         "note": f"counts of adaptive_threshold on N(0,1), |n| ≤ {int(counts.abs().max())}"})
        return rows

    def _goal_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_case = {row["case"]: row for row in rows}
        goals = []
        relu = by_case["relu"]["fwd_bwd_ms"]
        adaptive = by_case["adaptive_threshold"]["fwd_bwd_ms"]
        goals.append(_goal("adaptive_threshold within 3x of ReLU (fwd+bwd)", adaptive / relu, "<=", 3.0))
        same_info = by_case["adaptive_threshold[D=T]"]["fwd_bwd_ms"]
        sj = by_case.get("spikingjelly LIFNode[T]", {}).get("fwd_bwd_ms")
        if sj is not None:
            goals.append(_goal("spikingjelly LIF over T / adaptive_threshold[D=T] (same information)",
                               sj / same_info, ">=", 10.0))
        else:
            goals.append({"section": "goal", "case": "spikingjelly LIF over T / adaptive_threshold[D=T]",
                          "value": None, "target": ">= 10", "holds": None, "note": "skipped: SpikingJelly not importable"})
        ours_multi = by_case["lif[T]"]["fwd_bwd_ms"]
        goals.append(_goal("lif[T] / adaptive_threshold[D=T] (our own multi-step LIF)", ours_multi / same_info,
                           ">=", 10.0))
        relu_1m = by_case["relu (same count of floats)"]["fwd_bwd_ms"]
        worst = max((r for r in rows if r["section"] == "coding" and r["decode_ms"] is not None),
                    key=lambda r: r["encode_ms"] + r["decode_ms"])
        goals.append(_goal(f"slowest coding encode+decode of {self.params.coding_values} counts ({worst['case']}) "
                           "/ ReLU fwd+bwd of as many floats",
                           (worst["encode_ms"] + worst["decode_ms"]) / relu_1m, "<=", 1.0))
        return goals


def _goal(name: str, value: float, relation: str, target: float) -> dict[str, Any]:
    holds = value <= target if relation == "<=" else value >= target
    return {"section": "goal", "case": name, "value": round(value, 2), "target": f"{relation} {target:g}",
            "holds": holds, "note": ""}


def _shape(x: torch.Tensor) -> str:
    return "x".join(str(s) for s in x.shape)


def _autograd_bytes(step: Step, x: torch.Tensor) -> int:
    """Bytes of distinct storages saved for backward by one forward, plus the output's."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    leaf = x.detach().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = step(leaf)
    out_storage = out.untyped_storage()
    storages[out_storage.data_ptr()] = out_storage.nbytes()
    return sum(storages.values())
