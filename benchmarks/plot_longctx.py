"""Plot the long-context benchmark: prefill time, peak RSS and decode ms/token against T, log axes.

    FASTSNN_LOAD_PLUGINS=attention,neurons fastsnn bench longctx --set threads=2 \
        --output benchmarks/results/longctx.json
    python benchmarks/plot_longctx.py benchmarks/results/longctx.json benchmarks/results/longctx.png

Measured points are filled markers joined by lines; extrapolated ones (runs skipped past the time
limit, or refused for memory) are hollow markers on a dashed line. Needs matplotlib (a
benchmark-only dependency, never a package requirement).
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
    ("prefill_s", "prefill time, s"),
    ("peak_rss_mib", "peak RSS of the prefill process, MiB"),
    ("decode_ms_per_token", "decode ms/token after the prefill"),
]


def points(rows: list[dict], key: str) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(measured, extrapolated) ``(T, value)`` pairs of one layout for ``key``."""
    measured, predicted = [], []
    for row in sorted(rows, key=lambda r: r["T"]):
        if row.get("status") == "measured":
            measured.append((row["T"], row[key]))
        elif row.get(f"predicted_{key}") is not None:
            predicted.append((row["T"], row[f"predicted_{key}"]))
    return measured, predicted


def main(source: Path, target: Path) -> None:
    rows = [r for r in json.loads(source.read_text()) if r.get("section") == "longctx"]
    by_layout: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_layout[row["layout"]].append(row)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(14, 4.2))
    for ax, (key, title) in zip(axes, PANELS):
        for index, (layout, layout_rows) in enumerate(sorted(by_layout.items())):
            color = f"C{index}"
            measured, predicted = points(layout_rows, key)
            if measured:
                ax.plot(*zip(*measured), marker="o", color=color, label=layout)
            if predicted:
                tail = measured[-1:] + predicted
                ax.plot(*zip(*tail), linestyle="--", color=color)
                ax.plot(*zip(*predicted), linestyle="none", marker="o", markerfacecolor="none", color=color,
                        label=f"{layout} (extrapolated)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("prompt length / prefix T (tokens)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.suptitle("Spiking LM, d_model 512, 8 layers, fp32, 2 CPU threads (fastsnn bench longctx)", fontsize=11)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/plot_longctx.py RESULTS.json OUT.png")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
