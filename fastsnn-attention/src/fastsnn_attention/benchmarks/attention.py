"""``fastsnn bench attention``: linear attention chunked vs recurrent, SWA scaling and memory.

Goals (issue 4): chunked linear attention ≥ 10× the recurrent form at T=2048 (fwd+bwd) and
≥ 40% of this machine's measured ``torch.matmul`` peak; SWA (W=512) time per token grows ≤ 1.3×
from T=1k to 16k; SWA peak memory ≤ 1/8 of a dense-mask implementation at T=8192.
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator, Literal

import torch
from pydantic import Field

from fastsnn import Benchmark, Params
from fastsnn.benchmark import Progress
from fastsnn_attention.benchmarks import cases
from fastsnn_attention.benchmarks.cases import linear_flops_fwd_bwd, linear_fwd_bwd, swa_call
from fastsnn_attention.benchmarks.measure import (
    cuda_peak_memory_bytes,
    matmul_peak_gflops,
    peak_memory_bytes,
    time_call,
)
from fastsnn_attention.ops.swa import blockwise_swa

CASES = "fastsnn_attention.benchmarks.cases"
Section = Literal["linear", "swa", "memory", "flex"]
MIB = 2**20


class AttentionBenchmark(Benchmark):
    """Attention kernels: linear chunked vs recurrent (fwd+bwd, GFLOP/s), SWA time/token and peak memory."""

    class Params(Params):
        sections: list[Section] = Field(["linear", "swa", "memory"], description="which parts to run")
        linear_seq_lens: list[int] = Field([512, 1024, 2048, 4096, 8192], description="T for linear attention")
        recurrent_max_seq_len: int = Field(
            4096, gt=0, description="skip the recurrent token loop above this T (at 8192 its fwd+bwd takes minutes)")
        swa_seq_lens: list[int] = Field([1024, 2048, 4096, 8192, 16384], description="T for SWA time per token")
        window: int = Field(512, gt=0, description="SWA window W")
        memory_seq_len: int = Field(8192, gt=0, description="T of the SWA peak-memory comparison")
        memory_dense: bool = Field(True, description="also measure the dense-mask baselines' memory (slow, GiBs)")
        heads: int = Field(8, gt=0)
        head_dim: int = Field(64, gt=0)
        batch: int = Field(1, gt=0)
        chunk_sizes: list[int] = Field([64, 128], min_length=1,
                                       description="chunks C of the chunked linear form (64 is the layer default)")
        repeats: int = Field(3, gt=0, description="timed runs per case after one warm-up; the best is reported")
        threads: int = Field(2, gt=0, description="torch intra-op threads")
        device: str = Field("cpu", description="'cpu' or a CUDA device ('cuda'); CUDA timings are synchronised")
        flex_seq_lens: list[int] = Field([4096, 16384], description="T of the SWA vs FlexAttention comparison")
        busy: int = Field(0, ge=0, description="processes spinning on the CPU while the flex section runs "
                          "(0: idle; 2 on a 2-core machine: busy)")

    def run(self, progress: Progress) -> list[dict[str, Any]]:
        """Run the chosen ``sections``; one result row per case (see the module docstring for the goals)."""
        p = self.params
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(p.threads)
        try:
            rows: list[dict[str, Any]] = []
            if "linear" in p.sections:
                rows += self._linear(progress)
            if "swa" in p.sections:
                rows += self._swa(progress)
            if "memory" in p.sections:
                rows += self._memory(progress)
            if "flex" in p.sections:
                with busy_processes(p.busy):
                    rows += self._flex(progress)
            return rows
        finally:
            torch.set_num_threads(previous_threads)

    def _linear(self, progress: Progress) -> list[dict[str, Any]]:
        p = self.params
        peak, size = matmul_peak_gflops(device=p.device)
        progress(f"torch.matmul peak: {peak:.1f} GFLOP/s (fp32, {size}x{size}, {p.device}, {p.threads} threads)")
        rows: list[dict[str, Any]] = [{"section": "matmul_peak", "impl": f"matmul {size}x{size}", "gflops": round(peak, 1)}]
        shape = {"heads": p.heads, "head_dim": p.head_dim, "batch": p.batch, "device": p.device}
        for seq_len in p.linear_seq_lens:
            chunked_rows = []
            for chunk_size in p.chunk_sizes:
                chunk_s = time_call(linear_fwd_bwd("chunked", seq_len, chunk_size=chunk_size, **shape), p.repeats,
                                    device=p.device)
                gflops = linear_flops_fwd_bwd(seq_len, p.heads, p.head_dim, p.batch, chunk_size) / chunk_s / 1e9
                chunked_rows.append({"section": "linear_fwd_bwd", "T": seq_len, "impl": f"chunked C={chunk_size}",
                                     "ms": round(chunk_s * 1e3, 2), "gflops": round(gflops, 1),
                                     "pct_of_matmul_peak": round(100 * gflops / peak, 1)})
                progress(f"linear T={seq_len} chunked C={chunk_size}: {chunk_s * 1e3:.1f} ms, {gflops:.1f} GFLOP/s "
                         f"({100 * gflops / peak:.0f}% of peak)")
            rows += chunked_rows
            if seq_len <= p.recurrent_max_seq_len:
                # seconds per run and no one-time costs worth a warm-up: one timed run
                rec_s = time_call(linear_fwd_bwd("recurrent", seq_len, **shape), 1, warmup=0, device=p.device)
                for row in chunked_rows:
                    row["speedup_vs_recurrent"] = round(rec_s / (row["ms"] / 1e3), 1)
                rows.append({"section": "linear_fwd_bwd", "T": seq_len, "impl": "recurrent (token loop)",
                             "ms": round(rec_s * 1e3, 2)})
                progress(f"linear T={seq_len} recurrent: {rec_s * 1e3:.1f} ms")
        return rows

    def _swa(self, progress: Progress) -> list[dict[str, Any]]:
        p = self.params
        shape = {"heads": p.heads, "head_dim": p.head_dim, "batch": p.batch, "window": p.window, "device": p.device}
        calls = {(t, label): swa_call("blockwise", t, backward=label == "fwd_bwd", **shape)
                 for t in p.swa_seq_lens for label in ("fwd", "fwd_bwd")}
        best = dict.fromkeys(calls, float("inf"))
        for call in calls.values():  # warm-up
            call()
        # Rounds over all lengths (best per length), so load from other jobs hits every T alike.
        for _ in range(p.repeats):
            for key, call in calls.items():
                best[key] = min(best[key], time_call(call, 1, warmup=0, device=p.device))
        rows: list[dict[str, Any]] = []
        for seq_len in p.swa_seq_lens:
            row: dict[str, Any] = {"section": "swa_time", "T": seq_len, "impl": f"blockwise W={p.window}"}
            for label in ("fwd", "fwd_bwd"):
                per_token = best[(seq_len, label)] / (seq_len * p.batch) * 1e6
                first = best[(p.swa_seq_lens[0], label)] / (p.swa_seq_lens[0] * p.batch) * 1e6
                row[f"{label}_us_per_token"] = round(per_token, 3)
                row[f"{label}_growth"] = round(per_token / first, 2)
            progress(f"swa T={seq_len}: fwd {row['fwd_us_per_token']} us/token, fwd+bwd {row['fwd_bwd_us_per_token']}")
            rows.append(row)
        return rows

    def _peak(self, case: str, **kwargs: Any) -> int:
        """Peak extra bytes of one call: CUDA allocator peak, or a fresh CPU process's RSS growth."""
        p = self.params
        if p.device.startswith("cuda"):
            return cuda_peak_memory_bytes(getattr(cases, case)(device=p.device, **kwargs))
        return peak_memory_bytes(f"{CASES}:{case}", threads=p.threads, **kwargs)

    def _memory(self, progress: Progress) -> list[dict[str, Any]]:
        p = self.params
        rows: list[dict[str, Any]] = []
        shape = {"heads": p.heads, "head_dim": p.head_dim, "batch": p.batch, "window": p.window}
        impls = ["blockwise"] + (["dense_mask", "sdpa_dense_mask"] if p.memory_dense else [])
        measured: dict[str, int] = {}
        for impl in impls:
            peak = self._peak("swa_call", impl=impl, seq_len=p.memory_seq_len, **shape)
            seconds = time_call(swa_call(impl, p.memory_seq_len, device=p.device, **shape), 1, warmup=0,
                                device=p.device)
            measured[impl] = peak
            rows.append({"section": "swa_memory", "T": p.memory_seq_len, "impl": impl,
                         "peak_mib": round(peak / MIB, 1), "fwd_ms": round(seconds * 1e3, 1)})
            progress(f"swa memory T={p.memory_seq_len} {impl}: {peak / MIB:.1f} MiB peak, {seconds * 1e3:.0f} ms")
        for row in rows:
            if "dense_mask" in measured and row["impl"] != "dense_mask":
                row["fraction_of_dense_mask"] = round(measured[row["impl"]] / measured["dense_mask"], 4)
        lin = {"heads": p.heads, "head_dim": p.head_dim, "batch": p.batch}
        seq_len = min(2048, p.recurrent_max_seq_len)
        for impl in ("chunked", "recurrent"):
            peak = self._peak("linear_fwd_bwd", impl=impl, seq_len=seq_len, chunk_size=p.chunk_sizes[0], **lin)
            rows.append({"section": "linear_memory", "T": seq_len, "impl": f"{impl} fwd+bwd",
                         "peak_mib": round(peak / MIB, 1)})
            progress(f"linear memory T={seq_len} {impl}: {peak / MIB:.1f} MiB peak")
        return rows

    def _flex(self, progress: Progress) -> list[dict[str, Any]]:
        """Blockwise SWA forward (no autograd) against torch's FlexAttention, compiled, with a
        sliding-window block mask, at each T; rounds interleaved, best of ``repeats``. Also our
        forward + backward, and whether FlexAttention has a backward on this device."""
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        p = self.params
        window = p.window
        compiled = torch.compile(flex_attention, dynamic=False)
        rows: list[dict[str, Any]] = []
        calls: dict[tuple[int, str], Any] = {}
        for seq_len in p.flex_seq_lens:
            g = torch.Generator().manual_seed(seq_len)
            q, k, v = (torch.randn(p.batch, p.heads, seq_len, p.head_dim, generator=g).to(p.device) for _ in range(3))
            mask = create_block_mask(lambda b, h, q_idx, kv_idx: (kv_idx <= q_idx) & (q_idx - kv_idx < window),
                                     1, 1, seq_len, seq_len, device=p.device)
            start = time.perf_counter()
            with torch.no_grad():
                want = compiled(q, k, v, block_mask=mask)
            compile_s = time.perf_counter() - start
            with torch.no_grad():
                err = (blockwise_swa(q, k, v, window) - want).abs().max().item()
            calls[(seq_len, "flex")] = lambda q=q, k=k, v=v, m=mask: compiled(q, k, v, block_mask=m)
            calls[(seq_len, "blockwise")] = lambda q=q, k=k, v=v: blockwise_swa(q, k, v, window)
            rows.append({"section": "swa_vs_flex", "T": seq_len, "window": window, "busy": p.busy,
                         "flex_compile_s": round(compile_s, 1), "max_abs_diff": float(f"{err:.2g}")})
        best = dict.fromkeys(calls, float("inf"))
        with torch.no_grad():
            for _ in range(p.repeats):  # rounds over every call, so load hits both alike
                for key, call in calls.items():
                    best[key] = min(best[key], time_call(call, 1, warmup=0, device=p.device))
        for row in rows:
            seq_len = row["T"]
            backward = time_call(swa_call("blockwise", seq_len, window=window, heads=p.heads, head_dim=p.head_dim,
                                          batch=p.batch, backward=True, device=p.device), 2, device=p.device)
            row.update(flex_fwd_ms=round(best[(seq_len, "flex")] * 1e3, 1),
                       blockwise_fwd_ms=round(best[(seq_len, "blockwise")] * 1e3, 1),
                       speedup=round(best[(seq_len, "flex")] / best[(seq_len, "blockwise")], 2),
                       blockwise_fwd_bwd_ms=round(backward * 1e3, 1), flex_backward=flex_backward(p.device))
            progress(f"swa vs flex T={seq_len} busy={p.busy}: flex {row['flex_fwd_ms']} ms, blockwise "
                     f"{row['blockwise_fwd_ms']} ms ({row['speedup']}x); blockwise fwd+bwd {row['blockwise_fwd_bwd_ms']} ms")
        return rows


def flex_backward(device: str) -> str:
    """Whether FlexAttention (eager, no compile) can differentiate here: ``"yes"`` or the error's first line."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    q, k, v = (torch.randn(1, 1, 128, 16, device=device, requires_grad=True) for _ in range(3))
    mask = create_block_mask(lambda b, h, q_idx, kv_idx: kv_idx <= q_idx, 1, 1, 128, 128, device=device)
    try:
        flex_attention(q, k, v, block_mask=mask).sum().backward()
    except Exception as err:
        return f"no: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
    return "yes"


@contextmanager
def busy_processes(count: int) -> Iterator[None]:
    """``count`` Python processes spinning on the CPU (a busy machine) while the block runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
