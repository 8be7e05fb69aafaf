"""What SpikeScope costs per batch against a plain forward pass of the same model.

    python benchmarks/scope_overhead.py MODEL [--batch 8] [--seq-len 256] [--rounds 6] [--threads 2]

MODEL is a run folder, model folder or ``.snn`` file. Each round runs one batch (random token ids)
as a plain ``no_grad`` forward and through ``fastsnn.scope`` (spike statistics with histograms,
operation counting), taking turns so that load from other jobs hits both alike. Prints the median
ms per batch of each, their ratio, and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

import fastsnn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = fastsnn.load(args.model)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (args.batch, args.seq_len), generator=generator)
    with torch.no_grad():
        model(ids)  # warm-up
    fastsnn.scope(model, [ids], progress=False)
    plain, scoped = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        with torch.no_grad():
            model(ids)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        fastsnn.scope(model, [ids], progress=False)
        scoped.append(time.perf_counter() - start)
    a, b = statistics.median(plain) * 1e3, statistics.median(scoped) * 1e3
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.model}: batch {args.batch} x {args.seq_len} tokens, {args.threads} threads, {args.rounds} rounds")
    print("| run | ms/batch (median) | x plain |\n| --- | ---: | ---: |")
    print(f"| plain forward (no_grad) | {a:.1f} | 1.00 |")
    print(f"| fastsnn.scope (statistics, histograms, operation counts) | {b:.1f} | {b / a:.2f} |")
    print(f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
