"""Where single-token decoding spends its time (BENCHMARKS.md, "Long context"): the matrix-vector
products against everything else, and how fast MKL streams one weight matrix for a batch-1 product
in each memory layout.

    FASTSNN_LOAD_PLUGINS=attention,neurons python benchmarks/decode_profile.py [--threads 2]

Applies the fastsnn thread policy (``OMP_WAIT_POLICY=PASSIVE`` unless set) before torch starts.
"""

from __future__ import annotations

import argparse
import time

import fastsnn_runtime


def best(fn, repeats: int = 20) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(fastsnn_runtime.apply_thread_policy(args.threads))
    import torch
    from torch.nn import functional as F
    from torch.profiler import profile

    from fastsnn.config.model import ModelConfig
    from fastsnn.model import build_model

    # 1. batch-1 x·Wᵀ for the model's weight shapes, row-major W [out, in] vs column-major
    print("GEMV x·Wᵀ, 96 MiB of weights per shape (more than the caches), GB/s:")
    for out_features, in_features in [(512, 512), (2048, 512), (512, 2048)]:
        count = 96 * 2**20 // (out_features * in_features * 4)
        rows = [torch.randn(out_features, in_features) for _ in range(count)]
        columns = [w.t().contiguous().t() for w in rows]
        x = torch.randn(1, in_features)
        seconds_rows = best(lambda rows=rows, x=x: [F.linear(x, w) for w in rows], 10)
        seconds_columns = best(lambda columns=columns, x=x: [F.linear(x, w) for w in columns], 10)
        print(f"  W [{out_features}, {in_features}]: row-major {96 * 2**20 / seconds_rows / 1e9:.1f}, "
              f"column-major {96 * 2**20 / seconds_columns / 1e9:.1f}")

    # 2. one decode step of the benchmark model after a 1,024-token prompt, profiled
    model = build_model(ModelConfig(vocab_size=1024, d_model=512, n_layers=8, n_heads=8, ffn="pulse",
                                    attention={"name": "hybrid_alt", "swa": {"name": "swa", "window": 512}}),
                        seed=0).eval().layout_for_decoding()
    cache = model.init_cache(1)
    token = torch.tensor([[5]])
    with torch.no_grad():
        model.prefill(torch.randint(0, 1024, (1, 1024)), cache)
        step = best(lambda: model(token, cache=cache), 30)
        with profile() as prof:
            for _ in range(10):
                model(token, cache=cache)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 10 / 1e3
    matmul = sum(e.self_cpu_time_total for e in events if e.key in ("aten::mm", "aten::addmm")) / 10 / 1e3
    operations = sum(e.count for e in events) // 10
    print(f"decode step: {step * 1e3:.2f} ms (best of 30); profiled: {total:.2f} ms of operator time, "
          f"{matmul:.2f} ms in aten::mm/addmm, {operations} operator calls per token")
    print("operators by self time per token (ms, calls):")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:12]:
        print(f"  {e.key:48s} {e.self_cpu_time_total / 10 / 1e3:7.3f}  {e.count // 10:5d}")


if __name__ == "__main__":
    main()
