"""The flagship quality study of issue 9: where the gap to softmax comes from, and closing it.

    python benchmarks/quality_study.py --list                       # the model variants
    nice -n 10 python benchmarks/quality_study.py softmax_swiglu hybrid_pulse_spiking --seeds 0 1 \\
        --out benchmarks/results/quality --models /tmp/quality_models   # one JSON per (variant, seed)
    python benchmarks/quality_study.py --table benchmarks/results/quality   # the BENCHMARKS.md table

Protocol (issue 9): tiny-shakespeare (first 90% train, last 10% validation), char tokenizer,
d_model 256, 4 layers, 4 heads, seq_len 257, batch 16, 600 steps, AdamW lr 1e-3, 50 warm-up
steps, cosine to 0, weight decay 0.1 (not on norms, biases, embeddings), betas (0.9, 0.999), about
3.36M parameters per model (d_ff sized to match: SwiGLU 746, pulse 1119). The validation loss is
the token-weighted mean over the whole validation split (non-overlapping windows of 257), in
nats/char, as ``Trainer.evaluate`` reports it. Each run also records training tokens/s, spike
statistics of the FFN neurons on the validation split (spikes per value, sparsity), and the loss
on a second text the models never saw (``--second-text``, default the GPL-3 text of Debian's
``/usr/share/common-licenses/GPL-3``; characters outside the training vocabulary are counted and
left out of the loss, as ``fastsnn eval`` does).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import fastsnn_runtime

fastsnn_runtime.apply_thread_policy()  # OMP_WAIT_POLICY=PASSIVE before torch loads: a shared machine stays fast

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT / "examples" / "data" / "tinyshakespeare.txt"
SECOND_TEXT = Path("/usr/share/common-licenses/GPL-3")

BASE = dict(d_model=256, n_layers=4, n_heads=4, max_seq_len=512)
FLAGSHIP_NEURON = {"name": "adaptive_threshold", "k": 3.0, "signed": False}
SWIGLU_PLAIN = {"name": "swiglu", "spiking": False}
SWIGLU_D_FF, PULSE_D_FF = 746, 1119  # 3·256·746 ≈ 2·256·1119: the same parameter count
# hybrid_alt with gated linear attention (SpikingBrain-7B's linear layers: decay gate, output gate)
# in layers 0 and 2: GLA's gates add 147,456 parameters, so its SwiGLU is 48 narrower (3,359,872)
HYBRID_GLA, GLA_SWIGLU_D_FF = {"name": "hybrid_alt", "linear": "gla"}, 698
SPIKING_SWIGLU, SIGNED_K3 = {"name": "swiglu", "spiking": True}, {"name": "adaptive_threshold", "k": 3.0, "signed": True}

#: name → (model overrides, one-line description)
VARIANTS: dict[str, tuple[dict, str]] = {
    "softmax_swiglu": (dict(attention="softmax", ffn=SWIGLU_PLAIN, d_ff=SWIGLU_D_FF),
                       "softmax attention + SwiGLU, non-spiking"),
    "hybrid_swiglu": (dict(attention="hybrid_alt", ffn=SWIGLU_PLAIN, d_ff=SWIGLU_D_FF),
                      "hybrid_alt + SwiGLU, non-spiking"),
    "softmax_pulse_spiking": (dict(attention="softmax", ffn="pulse", d_ff=PULSE_D_FF, neuron=FLAGSHIP_NEURON),
                              "softmax + pulse/adaptive_threshold(k=3, unsigned)"),
    "hybrid_pulse_spiking": (dict(attention="hybrid_alt", ffn="pulse", d_ff=PULSE_D_FF, neuron=FLAGSHIP_NEURON),
                             "hybrid_alt + pulse/adaptive_threshold(k=3, unsigned) (the issue's flagship)"),
    # closing the gap: a spiking gated FFN (the gated hidden state is signed: a signed neuron)
    "hybrid_swiglu_spiking": (dict(attention="hybrid_alt", ffn={"name": "swiglu", "spiking": True}, d_ff=SWIGLU_D_FF,
                                   neuron={"name": "adaptive_threshold", "k": 3.0, "signed": True}),
                              "hybrid_alt + spiking SwiGLU, adaptive_threshold(k=3, signed)"),
    "softmax_swiglu_spiking": (dict(attention="softmax", ffn={"name": "swiglu", "spiking": True}, d_ff=SWIGLU_D_FF,
                                    neuron={"name": "adaptive_threshold", "k": 3.0, "signed": True}),
                               "softmax + spiking SwiGLU, adaptive_threshold(k=3, signed)"),
    "hybrid_swiglu_spiking_k5": (dict(attention="hybrid_alt", ffn={"name": "swiglu", "spiking": True},
                                      d_ff=SWIGLU_D_FF,
                                      neuron={"name": "adaptive_threshold", "k": 5.0, "signed": True}),
                                 "hybrid_alt + spiking SwiGLU, adaptive_threshold(k=5, signed)"),
    # closing the attention gap: gated linear attention in the linear layers
    "hybrid_gla_swiglu": (dict(attention=HYBRID_GLA, ffn=SWIGLU_PLAIN, d_ff=GLA_SWIGLU_D_FF),
                          "hybrid_alt (GLA + SWA) + SwiGLU, non-spiking"),
    "hybrid_gla_swiglu_spiking": (dict(attention=HYBRID_GLA, ffn=SPIKING_SWIGLU, d_ff=GLA_SWIGLU_D_FF,
                                       neuron=SIGNED_K3),
                                  "hybrid_alt (GLA + SWA) + spiking SwiGLU, adaptive_threshold(k=3, signed): the new flagship"),
    # the scale check: about 2× the parameters (d_model 384; run with --steps 1200 for 2× the tokens)
    "softmax_swiglu_2x": (dict(d_model=384, attention="softmax", ffn=SWIGLU_PLAIN, d_ff=935),
                          "2× scale: softmax attention + SwiGLU, non-spiking"),
    "hybrid_gla_swiglu_spiking_2x": (dict(d_model=384, attention=HYBRID_GLA, ffn=SPIKING_SWIGLU, d_ff=866,
                                          neuron=SIGNED_K3),
                                     "2× scale: the new flagship (GLA + SWA, spiking SwiGLU)"),
    "hybrid_pulse_k10000": (dict(attention="hybrid_alt", ffn="pulse", d_ff=PULSE_D_FF,
                                 neuron={"name": "adaptive_threshold", "k": 10000.0, "signed": False}),
                            "flagship shape with k=10,000 (nearly continuous ReLU)"),
}

TRAIN = dict(max_steps=600, lr=1e-3, warmup_steps=50, min_lr_ratio=0.0, weight_decay=0.1, betas=(0.9, 0.999),
             batch_size=16, seq_len=257, log_every=50, grad_clip=1.0)


def build(variant: str, vocab_size: int, seed: int):
    from fastsnn.config.model import ModelConfig
    from fastsnn.model import build_model

    overrides, _ = VARIANTS[variant]
    config = ModelConfig(vocab_size=vocab_size, **{**BASE, **overrides})
    return build_model(config, seed=seed)


def evaluate_text(trainer, tokenizer, text: str, seq_len: int) -> dict:
    """Loss on ``text`` with the training tokenizer; unknown characters are counted and skipped."""
    known = [c for c in text if c in tokenizer._index]
    unknown = len(text) - len(known)
    ids = tokenizer.encode("".join(known))
    starts = range(0, len(ids) - seq_len + 1, seq_len - 1)
    windows = torch.stack([ids[s : s + seq_len] for s in starts])
    result = trainer.evaluate(windows.split(16))
    return {"loss": result["loss"], "tokens": result["tokens"], "unknown_chars": unknown, "chars": len(text)}


def spike_stats(model, batches) -> dict:
    """Spikes per value and sparsity of every spiking neuron (forward hooks, counts from ``spikes``)."""
    from fastsnn.neuron import SpikingNeuron

    totals = {"values": 0, "spikes": 0.0, "zeros": 0}

    def hook(module, inputs, output):
        counts = module.spikes(inputs[0]).counts.detach()
        totals["values"] += counts.numel()
        totals["spikes"] += float(counts.abs().sum())
        totals["zeros"] += int((counts == 0).sum())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, SpikingNeuron)]
    if not handles:
        return {}
    try:
        model.eval()
        with torch.no_grad():
            for batch in batches:
                model(batch[:, :-1])
    finally:
        for h in handles:
            h.remove()
    return {"spikes_per_value": totals["spikes"] / totals["values"], "sparsity": totals["zeros"] / totals["values"]}


def run(variant: str, seed: int, out: Path, steps: int, second_text: Path | None, models: Path | None) -> dict:
    from fastsnn.data import TextDataset
    from fastsnn.train.trainer import TrainConfig, Trainer

    data = TextDataset.from_file(TEXT, tokenizer="char", val_fraction=0.1)
    model = build(variant, data.tokenizer.vocab_size, seed)
    n_params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    config = TrainConfig(**{**TRAIN, "max_steps": steps}, seed=seed)
    logs: list[dict] = []

    def log(record: dict) -> None:
        logs.append(record)
        print(f"  {variant} seed {seed} step {record['step']}: loss {record['loss']:.4f} "
              f"({record['tokens_per_s']:.0f} tok/s)", flush=True)

    trainer = Trainer(model, config, callbacks=[log])
    start = time.perf_counter()
    trainer.fit(data.random_windows("train", config.batch_size, config.seq_len, seed=seed))
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    if models is not None:  # a model folder (+ tokenizer.json) that `fastsnn eval` reads
        model.save_pretrained(models / f"{variant}_seed{seed}", tokenizer=data.tokenizer.to_dict())
    val_batches = list(data.sequential_windows("val", 16, config.seq_len))
    val = trainer.evaluate(val_batches)
    stats = spike_stats(model, val_batches[:4])
    second = None
    if second_text is not None and second_text.is_file():
        second = evaluate_text(trainer, data.tokenizer, second_text.read_text(encoding="utf-8"), config.seq_len)
        second["path"] = str(second_text)
    result = {
        "variant": variant, "description": VARIANTS[variant][1], "seed": seed, "parameters": n_params,
        "steps": steps, "train_seconds": seconds, "tokens_per_s": steps * config.batch_size * (config.seq_len - 1) / seconds,
        "val_loss": val["loss"], "val_tokens": val["tokens"], "val_bits_per_char": val["loss"] / math.log(2),
        "final_train_loss": logs[-1]["loss"] if logs else None, "spikes": stats, "second_text": second,
        "model": VARIANTS[variant][0], "train": {**TRAIN, "max_steps": steps},
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }
    path = out / f"{variant}_seed{seed}.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    try:
        gen = torch.Generator().manual_seed(0)
        prompt = data.tokenizer.encode("ROMEO:").unsqueeze(0)
        ids = model.eval().generate(prompt, 200, temperature=0.8, top_k=20, generator=gen)[0]
        result["sample"] = data.tokenizer.decode(ids)
    except Exception as err:  # the figures above are saved whatever happens here
        result["sample_error"] = f"{type(err).__name__}: {err}"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return result


def _cell(value: float | None, spec: str) -> str:
    """A table cell: ``—`` where there is nothing to show (a non-spiking model has no spikes)."""
    return "—" if value is None or value != value else format(value, spec)


def table(folder: Path) -> str:
    rows: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*_seed*.json")):
        r = json.loads(path.read_text())
        rows.setdefault(r["variant"], []).append(r)
    ref = rows.get("softmax_swiglu") or rows.get("softmax_swiglu_2x")  # the softmax model of that scale
    ref_loss = sum(r["val_loss"] for r in ref) / len(ref) if ref else None
    lines = ["| model | seeds | val loss (mean) | per seed | vs softmax | tok/s | spikes/value | sparsity | GPL-3 loss |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for name, rs in sorted(rows.items(), key=lambda item: list(VARIANTS).index(item[0])):
        mean = sum(r["val_loss"] for r in rs) / len(rs)
        vs = f"{100 * (mean / ref_loss - 1):+.1f}%" if ref_loss else "—"
        per_seed = ", ".join(f"{r['val_loss']:.3f}" for r in rs)
        sp = rs[0]["spikes"] or {}
        second = [r["second_text"]["loss"] for r in rs if r.get("second_text")]
        lines.append(
            f"| {VARIANTS[name][1]} | {len(rs)} | {mean:.3f} | {per_seed} | {vs} "
            f"| {sum(r['tokens_per_s'] for r in rs) / len(rs):,.0f} "
            f"| {_cell(sp.get('spikes_per_value'), '.2f')} | {_cell(sp.get('sparsity'), '.2f')} "
            f"| {_cell(sum(second) / len(second) if second else None, '.3f')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="*")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality")
    parser.add_argument("--second-text", type=Path, default=SECOND_TEXT)
    parser.add_argument("--models", type=Path, help="also save each trained model folder here")
    parser.add_argument("--threads", type=int, help="torch threads (default: the fastsnn thread policy's)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--table", type=Path)
    args = parser.parse_args(argv)
    if args.list:
        for name, (_, text) in VARIANTS.items():
            print(f"{name:28s} {text}")
        return
    if args.table:
        print(table(args.table))
        return
    from fastsnn.testing import use_plugins

    if args.threads:
        torch.set_num_threads(args.threads)

    with use_plugins(entry_points=True):
        for seed in args.seeds:
            for variant in args.variants:
                r = run(variant, seed, args.out, args.steps, args.second_text, args.models)
                print(f"{variant} seed {seed}: val {r['val_loss']:.4f}  {r['tokens_per_s']:.0f} tok/s  "
                      f"{r['train_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
