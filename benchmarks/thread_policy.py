"""Training tokens/s and decode ms/token under three thread policies, on an idle and a busy machine.

    python benchmarks/thread_policy.py                          # the "Thread policy" table of BENCHMARKS.md
    python benchmarks/thread_policy.py --d-model 512 --rounds 3 --output /tmp/thread_policy_512.json
    python benchmarks/thread_policy.py --policies PASSIVE "spin 300" "spin 1000" "1 thread" --rounds 3

``--policies`` also offers ``PASSIVE`` (only ``OMP_WAIT_POLICY=PASSIVE``) and ``spin N`` (no wait
policy, libgomp spinning ``GOMP_SPINCOUNT=N`` times before it sleeps; N = 100, 300, 1000, 10000,
100000): the middle ground measured for the compiled decoder (BENCHMARKS.md, "Compiled decode").

Policies, each run in a fresh process (OpenMP reads its environment once, when torch loads it),
all starting from the caller's environment without OMP_WAIT_POLICY, OMP_NUM_THREADS,
FASTSNN_THREADS, GOMP_SPINCOUNT, KMP_BLOCKTIME and MKL_NUM_THREADS:

- ``torch default``: nothing more — torch's own thread count, OpenMP threads spin while waiting;
- ``fastsnn``: ``fastsnn_runtime.apply_thread_policy()`` before ``import torch``, exactly what the
  ``fastsnn`` command does (``OMP_WAIT_POLICY=PASSIVE``, torch's own thread count);
- ``1 thread``: ``torch.set_num_threads(1)``.

Loads: ``idle`` (nothing started by this script) and ``busy`` (``--busy`` processes spinning a
Python loop, started by this script, each bounded to ``--busy-seconds`` and killed at the end).
The machine may be shared: each row also reports ``other_cores``, the CPU time used outside the
measured process during its run (from /proc/stat, in cores; the busy loops count here).

Workload: the ``fastsnn demo`` model (4 layers alternating linear and sliding-window attention,
d_model 128, vocab 256; ``--d-model`` scales it), AdamW training on batches of 8 sequences of 64
tokens (tokens/s over ``--steps`` steps after one warm-up step), then greedy decoding of one
sequence from the cache (ms/token over ``--decode-tokens`` tokens after 4 warm-up tokens).
Rounds interleave the policies; the table shows the median round and the range.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

POLICIES = ("torch default", "fastsnn", "1 thread")
#: extra policies for comparison (``--policies``): libgomp spinning ``GOMP_SPINCOUNT`` times, no wait policy
SPIN_POLICIES = {f"spin {n}": n for n in (100, 300, 1000, 10000, 100000)}
PASSIVE_POLICY = "PASSIVE"
CLEARED = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "FASTSNN_THREADS", "GOMP_SPINCOUNT", "KMP_BLOCKTIME",
           "MKL_NUM_THREADS")
BUSY_LOOP = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


def measure(policy: str, d_model: int, steps: int, decode_tokens: int) -> dict:
    """Run in the child process: apply ``policy``, then train and decode the demo model."""
    if policy == "fastsnn":
        import fastsnn_runtime

        fastsnn_runtime.apply_thread_policy()
    elif policy == PASSIVE_POLICY:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    elif policy in SPIN_POLICIES:
        os.environ["GOMP_SPINCOUNT"] = str(SPIN_POLICIES[policy])
    import torch

    if policy == "1 thread":
        torch.set_num_threads(1)
    from fastsnn.config import ModelConfig
    from fastsnn.model import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=256, d_model=d_model, n_layers=4, n_heads=4, d_ff=2 * d_model,
                                    attention="hybrid_alt"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    batches = [torch.randint(0, 256, (8, 65), generator=g) for _ in range(steps + 1)]  # (B, T+1)

    def train_step(ids: torch.Tensor) -> None:
        loss = model.loss(ids)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    train_step(batches[0])
    start = time.perf_counter()
    for ids in batches[1:]:
        train_step(ids)
    tokens_per_s = steps * 8 * 64 / (time.perf_counter() - start)

    model.eval()
    with torch.no_grad():
        cache = model.init_cache(1)
        token = model.prefill(torch.tensor([[10, 12, 14, 16, 18]]), cache)[:, -1:].argmax(-1)  # (1, 1)
        for _ in range(4):
            token = model(token, cache=cache)[:, -1:].argmax(-1)
        start = time.perf_counter()
        for _ in range(decode_tokens):
            token = model(token, cache=cache)[:, -1:].argmax(-1)
        decode_ms = (time.perf_counter() - start) / decode_tokens * 1000
    wait = os.environ.get("OMP_WAIT_POLICY") or (f"GOMP_SPINCOUNT={os.environ['GOMP_SPINCOUNT']}"
                                                  if os.environ.get("GOMP_SPINCOUNT") else None)
    return {"threads": torch.get_num_threads(), "OMP_WAIT_POLICY": wait,
            "train_tokens_per_s": tokens_per_s, "decode_ms_per_token": decode_ms}


def machine_busy_seconds() -> float | None:
    """CPU seconds spent outside idle by the whole machine since boot (Linux), else ``None``."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_child(policy: str, args: argparse.Namespace) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    command = [sys.executable, __file__, "--child", policy, "--d-model", str(args.d_model),
               "--steps", str(args.steps), "--decode-tokens", str(args.decode_tokens)]
    busy0, wall0, child0 = machine_busy_seconds(), time.perf_counter(), os.times()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall, child1, busy1 = time.perf_counter() - wall0, os.times(), machine_busy_seconds()
    if done.returncode != 0:
        raise SystemExit(f"{policy}: child failed ({done.returncode}):\n{done.stderr}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    if busy0 is not None and busy1 is not None:
        child_cpu = (child1.children_user + child1.children_system) - (child0.children_user + child0.children_system)
        row["other_cores"] = max(0.0, (busy1 - busy0 - child_cpu) / wall)
    return row


def summarise(load: str, policy: str, runs: list[dict]) -> dict:
    tokens = [r["train_tokens_per_s"] for r in runs]
    decode = [r["decode_ms_per_token"] for r in runs]
    other = [r["other_cores"] for r in runs if "other_cores" in r]
    return {
        "load": load, "policy": policy, "threads": runs[0]["threads"],
        "OMP_WAIT_POLICY": runs[0]["OMP_WAIT_POLICY"] or "unset",
        "train_tokens_per_s": round(statistics.median(tokens)), "train_min": round(min(tokens)),
        "train_max": round(max(tokens)),
        "decode_ms_per_token": round(statistics.median(decode), 2), "decode_min": round(min(decode), 2),
        "decode_max": round(max(decode), 2),
        "other_cores": round(statistics.median(other), 2) if other else None, "rounds": len(runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", choices=[*POLICIES, PASSIVE_POLICY, *SPIN_POLICIES], help=argparse.SUPPRESS)
    parser.add_argument("--policies", nargs="+", choices=[*POLICIES, PASSIVE_POLICY, *SPIN_POLICIES],
                        default=list(POLICIES), help="which policies to compare (default: the table's three)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per run")
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--busy", type=int, default=1, help="busy-loop processes in the busy phase")
    parser.add_argument("--busy-seconds", type=float, default=900, help="upper bound on each busy loop's life")
    parser.add_argument("--output", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.d_model, args.steps, args.decode_tokens)))
        return

    rows = []
    for load in ("idle", "busy"):
        siblings = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(args.busy_seconds)])
                    for _ in range(args.busy if load == "busy" else 0)]
        try:
            runs: dict[str, list[dict]] = {p: [] for p in args.policies}
            for round_ in range(args.rounds):
                for policy in args.policies:
                    runs[policy].append(run_child(policy, args))
                    r = runs[policy][-1]
                    print(f"{load} round {round_ + 1} {policy:13s}: {r['train_tokens_per_s']:7.0f} tok/s "
                          f"{r['decode_ms_per_token']:6.2f} ms/token", file=sys.stderr, flush=True)
            rows += [summarise(load, p, runs[p]) for p in args.policies]
        finally:
            for proc in siblings:
                proc.kill()
                proc.wait()

    import torch

    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "cpus": os.cpu_count(),
            "torch": torch.__version__, "machine": platform.machine(), "d_model": args.d_model}
    print(f"{'load':5s} {'policy':13s} {'threads':>7s} {'OMP_WAIT_POLICY':>15s}  {'train tok/s (range)':>22s}  "
          f"{'decode ms/token (range)':>24s}  {'other cores':>11s}")
    for r in rows:
        train = f"{r['train_tokens_per_s']} ({r['train_min']}–{r['train_max']})"
        decode = f"{r['decode_ms_per_token']:.2f} ({r['decode_min']:.2f}–{r['decode_max']:.2f})"
        other = "" if r["other_cores"] is None else f"{r['other_cores']:.2f}"
        print(f"{r['load']:5s} {r['policy']:13s} {r['threads']:7d} {r['OMP_WAIT_POLICY']:>15s}  {train:>22s}  "
              f"{decode:>24s}  {other:>11s}")
    print(json.dumps(meta))
    if args.output:
        args.output.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
