"""The BENCHMARKS.md tables of ``fastsnn bench convert`` (one per network) from its JSON rows.

    python benchmarks/convert_table.py benchmarks/results/convert.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LABELS = {"max": "max", "p99.9": "p99.9", "p99.9/channel": "p99.9 per channel", "mse": "mse (per T)",
          "mse/channel": "mse per channel (per T)", "Max": "max", "99.9%": "99.9%"}


def tables(rows: list[dict]) -> str:
    out = []
    for net in dict.fromkeys(r["net"] for r in rows):
        mine = [r for r in rows if r["net"] == net]
        ann = next(r for r in mine if r["converter"] == "ANN")
        steps = sorted({r["T"] for r in mine if r["T"] is not None})
        out += [f"**{net.upper()}** — ANN {ann['accuracy']:.2f}%", "",
                "| converter | threshold | coding | " + " | ".join(f"T={t}" for t in steps)
                + " | spikes/inference at T=4 (T=32) | sparsity per layer at T=4 |",
                "| --- | --- | --- | " + " | ".join("---:" for _ in steps) + " | ---: | --- |"]
        groups: dict[tuple, dict[int, dict]] = {}
        for r in mine:
            if r["T"] is not None:
                groups.setdefault((r["converter"], r["method"], r["coding"]), {})[r["T"]] = r
        for (converter, method, coding), by_t in groups.items():
            cells = []
            for t in steps:
                r = by_t.get(t)
                text = "—" if r is None else f"{r['accuracy']:.2f}"
                if r is not None and coding == "bitwise" and t <= 4 and abs(r["delta_pp"]) <= 0.5:
                    text = f"**{text}**"  # the goal: within 0.5 pp at T ≤ 4 (bitwise)
                cells.append(text)
            four, last = by_t.get(4), by_t.get(max(steps))
            spikes = "—" if four is None else f"{four['spikes_per_inference']:,.0f} ({last['spikes_per_inference']:,.0f})"
            name = "FastSNN" if converter == "fastsnn" else ("SpikingJelly" if converter == "spikingjelly" else converter)
            out.append(f"| {name} | {LABELS.get(method, method)} | {coding} | " + " | ".join(cells)
                       + f" | {spikes} | {four['sparsity'] if four else '—'} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(tables(json.loads(Path(sys.argv[1]).read_text())))
