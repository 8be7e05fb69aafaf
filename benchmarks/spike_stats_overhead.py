"""What per-layer spike statistics and the firing-rate regulariser cost a training step.

    python benchmarks/spike_stats_overhead.py                 # the table in BENCHMARKS.md
    python benchmarks/spike_stats_overhead.py --d-model 256 --steps 100

Model: the flagship's shape scaled down (hybrid_alt, FFN ``pulse`` with
``adaptive_threshold(k=3, unsigned)``, 4 layers), AdamW steps on random token windows. Modes, each a
Trainer on the same initial weights; after one warm-up step each, the modes take turns step by
step for ``--steps`` steps, and the table shows the mean time of a step in each mode:

- ``off``: ``spike_stats=False``, no regulariser — no hook is installed anywhere;
- ``stats every 10 steps``: the default (statistics on the steps that log, ``log_every=10``);
- ``stats every step``: ``log_every=1`` (the worst case of logging);
- ``regulariser``: ``spike_regularizer`` on (differentiable rates on every step), stats off.
"""

from __future__ import annotations

import argparse
import statistics
import time

import fastsnn_runtime

fastsnn_runtime.apply_thread_policy()

import torch  # noqa: E402

MODES = {
    "off": dict(spike_stats=False, log_every=10_000),
    "stats every 10 steps": dict(spike_stats=True, log_every=10),
    "stats every step": dict(spike_stats=True, log_every=1),
    "regulariser": dict(spike_stats=False, log_every=10_000, spike_regularizer={"weight": 0.01}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=129)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()

    from fastsnn.config import ModelConfig
    from fastsnn.model import build_model
    from fastsnn.testing import use_plugins
    from fastsnn.train.trainer import TrainConfig, Trainer

    with use_plugins(entry_points=True):
        config = ModelConfig(vocab_size=256, d_model=args.d_model, n_layers=4, n_heads=4, max_seq_len=512,
                             attention="hybrid_alt", ffn="pulse",
                             neuron={"name": "adaptive_threshold", "k": 3.0, "signed": False})
        g = torch.Generator().manual_seed(0)
        data = [torch.randint(0, 256, (args.batch, args.seq_len), generator=g) for _ in range(args.steps + 1)]
        trainers = {}
        for mode, settings in MODES.items():
            trainer = Trainer(build_model(config, seed=0), TrainConfig(max_steps=10**9, batch_size=args.batch,
                                                                       seq_len=args.seq_len, **settings), callbacks=[])
            trainer.fit(data[:1])  # warm-up step
            trainers[mode] = trainer
        times: dict[str, list[float]] = {m: [] for m in MODES}
        for batch in data[1:]:  # the modes take turns step by step: load on the machine hits all alike
            for mode, trainer in trainers.items():
                begin = time.perf_counter()
                trainer.fit([batch])
                times[mode].append(time.perf_counter() - begin)
        base = statistics.fmean(times["off"])
        print(f"d_model {args.d_model}, batch {args.batch}×{args.seq_len}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads, mean of {args.steps} interleaved steps per mode")
        print("| mode | ms/step | × off |\n| --- | ---: | ---: |")
        for mode, values in times.items():
            value = statistics.fmean(values)
            print(f"| {mode} | {1000 * value:.1f} | {value / base:.3f} |")


if __name__ == "__main__":
    main()
