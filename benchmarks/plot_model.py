"""Plot the model benchmark: prefill throughput, decode latency and cache size against length.

    fastsnn bench model --set threads=2 --output benchmarks/results/model.json
    python benchmarks/plot_model.py benchmarks/results/model.json benchmarks/results/model.png

Needs matplotlib (a benchmark-only dependency, never a package requirement).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = [
    ("prefill_tokens_per_s", "prefill tokens/s (higher is better)"),
    ("decode_ms_per_token", "decode ms/token (lower is better)"),
    ("cache_mib_per_seq", "cache MiB per sequence"),
]


def main(source: Path, target: Path) -> None:
    rows = [r for r in json.loads(source.read_text()) if r.get("section") == "model"]
    by_layout: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_layout[row["layout"]].append(row)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(13, 3.8))
    for ax, (key, title) in zip(axes, PANELS):
        for layout, points in sorted(by_layout.items()):
            points = sorted(points, key=lambda r: r["T"])
            ax.plot([p["T"] for p in points], [p[key] for p in points], marker="o", label=layout)
        ax.set_xscale("log", base=2)
        if key == "cache_mib_per_seq":
            ax.set_yscale("log", base=2)
        ax.set_xlabel("sequence length / prefix T")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("Spiking LM, d_model 512, 8 layers, fp32, 2 CPU threads (fastsnn bench model)", fontsize=11)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
