"""Measuring tools for the benchmarks: wall time, matmul peak, and peak memory in a child process.

Peak memory: torch's CPU allocator gives big tensors straight to and back from the OS, so the
resident-set high-water mark (``VmHWM``) of a process tracks the live tensor bytes of a large
computation. Each measurement runs in a fresh spawned process that builds its inputs, resets
``VmHWM`` (``/proc/self/clear_refs``), runs the call once and reports ``VmHWM − VmRSS(before)``:
the extra resident memory the call needed beyond its inputs, Python and torch themselves.
"""

from __future__ import annotations

import gc
import importlib
import json
import subprocess
import sys
from typing import Any, Callable

import torch

from fastsnn.benchmark import time_call

__all__ = ["cuda_peak_memory_bytes", "matmul_peak_gflops", "peak_memory_bytes", "time_call"]


def matmul_peak_gflops(sizes: tuple[int, ...] = (512, 1024, 2048), repeats: int = 3,
                       device: str = "cpu") -> tuple[float, int]:
    """Best fp32 ``torch.matmul`` GFLOP/s on square matrices of the given sizes: ``(gflops, size)``."""
    best, best_size = 0.0, sizes[0]
    for n in sizes:
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        seconds = time_call(lambda a=a, b=b: a @ b, repeats, device=device)
        gflops = 2 * n**3 / seconds / 1e9
        if gflops > best:
            best, best_size = gflops, n
    return best, best_size


def cuda_peak_memory_bytes(run: Callable[[], Any]) -> int:
    """Peak CUDA bytes allocated during ``run()`` beyond what was allocated before it."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    run()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - before


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _measure_in_this_process(case: str, kwargs: dict[str, Any], threads: int) -> int:
    torch.set_num_threads(threads)
    module_name, func_name = case.rsplit(":", 1)
    setup = getattr(importlib.import_module(module_name), func_name)
    run = setup(**kwargs)  # allocates the inputs, returns the call to measure
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark to the current RSS
    before = _status_kib("VmRSS")
    run()
    return (_status_kib("VmHWM") - before) * 1024


def peak_memory_bytes(case: str, threads: int = 2, **kwargs: Any) -> int:
    """Extra peak resident bytes of one call set up by ``case`` (``"module:function"``) in a fresh process.

    ``function(**kwargs)`` must build its inputs and return a zero-argument callable.
    """
    request = json.dumps({"case": case, "kwargs": kwargs, "threads": threads})
    code = "import sys; from fastsnn_attention.benchmarks.measure import _child_main; _child_main(sys.stdin.read())"
    done = subprocess.run([sys.executable, "-c", code], input=request, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr or "").strip().splitlines()[-3:]
        raise RuntimeError(f"memory measurement {case} {kwargs} failed (exit {done.returncode}): {' | '.join(tail)}")
    return int(json.loads(lines[-1])["peak_bytes"])


def _child_main(request: str) -> None:
    """Entry point of the measuring process: read the request, print ``{"peak_bytes": N}``."""
    args = json.loads(request)
    print(json.dumps({"peak_bytes": _measure_in_this_process(args["case"], args["kwargs"], args["threads"])}))
