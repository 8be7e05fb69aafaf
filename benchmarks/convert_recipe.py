"""SpikingBrain's recipe, end to end, on CPU (issue 10): softmax teacher → hybrid spiking LM → short continued training.

    nohup nice -n 10 python benchmarks/convert_recipe.py --threads 2 \\
        --out benchmarks/results/convert_recipe.json > /tmp/convert_recipe.log 2>&1 &

Protocol: tiny-shakespeare (``examples/data/tinyshakespeare.txt``, first 90% train, last 10%
validation), **byte** tokenizer (256 ids), one seed.

1. *teacher*: a non-spiking softmax LM (softmax attention on every layer, plain SwiGLU) trained
   for ``--steps`` (N) optimizer steps with :class:`fastsnn.train.Trainer`;
2. *converted*: :func:`fastsnn_convert.hf.relayout` of the teacher into a ``hybrid_alt`` model
   (linear attention and sliding-window attention alternating, window ``--window``) whose SwiGLU
   hidden state goes through the adaptive-threshold sINT neuron (k=3, signed) — every tensor is
   reused, nothing new is initialised; evaluated as is, then trained for ``0.1·N`` more steps;
3. *from scratch*: the same hybrid spiking LM, freshly initialised, trained for ``1.1·N`` steps
   (the teacher's budget plus the continued training).

Options that change the recipe (BENCHMARKS.md names the ones each row used): ``--first swa`` puts
SWA in layer 0 (layers 0 and 2 local, 1 and 3 global), ``--linear '{"name": "gla"}'`` makes the
global layers gated linear attention (its gates are new parameters, initialised; every teacher
tensor is still reused), ``--distill α`` adds knowledge distillation from the teacher during the
continued training (``(1 − α)·CE + α·τ²·KL``, :mod:`fastsnn.train.distill`), ``--continue-lr``
its peak lr. The from-scratch model always has the converted model's architecture.

Validation loss: the token-weighted mean over the *whole* validation split (non-overlapping
windows of ``--seq-len``), nats/byte, from ``Trainer.evaluate``. Goal (issue 10): the converted
model within 5% of the teacher after continued training, and below the from-scratch model.
Diagnostics (evaluation only): the teacher with only the attention changed (non-spiking FFN),
and with only the FFN made spiking (softmax kept).
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="teacher steps N (continued: N/10, scratch: 1.1·N)")
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=129)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--window", type=int, default=32, help="sliding-window size of the SWA layers")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak lr of the teacher and the from-scratch model")
    parser.add_argument("--continue-lr", type=float, default=1e-3, help="peak lr of the continued training")
    parser.add_argument("--continue-steps", type=int, help="steps of continued training (default N/10, the recipe's)")
    parser.add_argument("--distill", type=float, default=0.0,
                        help="α of knowledge distillation from the teacher during continued training (0: none)")
    parser.add_argument("--distill-temperature", type=float, default=1.0, help="τ of the distillation term")
    parser.add_argument("--first", choices=["linear", "swa"], default="linear", help="the kernel of layer 0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--linear", type=json.loads, default="\"linear\"",
                        help='the linear kernel of hybrid_alt as JSON, e.g. \'{"name": "linear", "feature_map": "elu1"}\'')
    parser.add_argument("--models", type=Path, help="save the teacher, converted and scratch model folders here")
    parser.add_argument("--teacher", type=Path, help="a saved teacher model folder (trained for --steps): skip step 1")
    parser.add_argument("--no-scratch", action="store_true", help="skip the from-scratch model (explorations)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "convert_recipe.json")
    args = parser.parse_args(argv)
    policy = fastsnn_runtime.apply_thread_policy(threads=args.threads)  # before torch loads

    import torch

    from fastsnn.config.model import ModelConfig
    from fastsnn.data import TextDataset
    from fastsnn.model import build_model, from_pretrained
    from fastsnn.testing import use_plugins
    from fastsnn.train.trainer import TrainConfig, Trainer

    with use_plugins(entry_points=True):
        from fastsnn_convert.hf import relayout

        data = TextDataset.from_file(TEXT, tokenizer="byte", val_fraction=0.1)
        vocab = data.tokenizer.vocab_size
        d_ff = 64 * round(args.d_model * 8 / 3 / 64) or 64  # SwiGLU's usual 8/3·d, rounded
        teacher_cfg = ModelConfig(vocab_size=vocab, d_model=args.d_model, n_layers=args.layers, n_heads=args.heads,
                                  d_ff=d_ff, max_seq_len=args.seq_len, attention="softmax",
                                  ffn={"name": "swiglu", "spiking": False})
        hybrid = {"name": "hybrid_alt", "linear": args.linear, "swa": {"name": "swa", "window": args.window},
                  "first": args.first}
        spiking = dict(ffn={"name": "swiglu", "spiking": True},
                       neuron={"name": "adaptive_threshold", "k": 3.0, "signed": True})
        val_batches = list(data.sequential_windows("val", 16, args.seq_len))
        results: dict = {"protocol": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                         "d_ff": d_ff, "threads": torch.get_num_threads(), "torch": torch.__version__,
                         "wait_policy": policy.wait_policy, "val_tokens": None, "runs": {}}

        def schedule(steps: int, lr: float, warmup: int, distill: float = 0.0) -> TrainConfig:
            return TrainConfig(max_steps=steps, lr=lr, warmup_steps=warmup, min_lr_ratio=0.1, weight_decay=0.1,
                               betas=(0.9, 0.95), batch_size=args.batch, seq_len=args.seq_len, log_every=50,
                               grad_clip=1.0, seed=args.seed, spike_stats=False, distill_weight=distill,
                               distill_temperature=args.distill_temperature)

        def train(name: str, model, config: TrainConfig, data_seed: int, teacher=None) -> dict:
            def log(record: dict) -> None:
                print(f"  {name} step {record['step']}: loss {record['loss']:.4f} "
                      f"({record['tokens_per_s']:.0f} tok/s)", flush=True)

            trainer = Trainer(model, config, callbacks=[log], teacher=teacher)
            start = time.perf_counter()
            trainer.fit(data.random_windows("train", config.batch_size, config.seq_len, seed=data_seed))
            seconds = time.perf_counter() - start
            return {"steps": config.max_steps, "train_seconds": seconds, **evaluate(name, model)}

        def evaluate(name: str, model) -> dict:
            result = Trainer(model, schedule(1, 1e-3, 0), callbacks=[lambda r: None]).evaluate(val_batches)
            results["val_tokens"] = result["tokens"]
            print(f"{name}: val loss {result['loss']:.4f} nats/byte", flush=True)
            return {"val_loss": result["loss"]}

        def save() -> None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))

        wall = time.perf_counter()
        n = args.steps
        warmup = max(1, n // 30)
        if args.teacher is None:
            teacher = build_model(teacher_cfg, seed=args.seed)
            results["runs"]["teacher"] = train("teacher", teacher, schedule(n, args.lr, warmup), args.seed)
        else:
            teacher = from_pretrained(args.teacher).train()
            if teacher.config.model_dump() != teacher_cfg.model_dump():
                raise SystemExit(f"{args.teacher}: its config is not this protocol's teacher config")
            results["runs"]["teacher"] = {"steps": n, "loaded_from": str(args.teacher), **evaluate("teacher", teacher)}
        results["parameters"] = sum(p.numel() for p in {id(p): p for p in teacher.parameters()}.values())
        if args.models is not None and args.teacher is None:
            teacher.save_pretrained(args.models / "teacher", tokenizer=data.tokenizer.to_dict())
        save()

        converted, report = relayout(teacher, attention=hybrid, **spiking)
        print(report.summary(), flush=True)
        results["relayout"] = {"reused": len(report.reused), "new": report.new, "dropped": report.dropped,
                               "layers": report.layers}
        results["runs"]["converted_before"] = evaluate("converted, before continued training", converted)
        attention_only, _ = relayout(teacher, attention=hybrid)
        results["runs"]["diag_attention_only"] = evaluate("diagnostic: hybrid_alt, FFN not spiking", attention_only)
        ffn_only, _ = relayout(teacher, **spiking)
        results["runs"]["diag_spiking_only"] = evaluate("diagnostic: softmax kept, spiking FFN", ffn_only)
        del attention_only, ffn_only
        save()

        cont = args.continue_steps or max(1, n // 10)
        teacher_copy = None
        if args.distill > 0:  # the teacher's weights, frozen, as the distillation target
            teacher_copy = from_pretrained(args.teacher) if args.teacher is not None else copy.deepcopy(teacher)
        results["runs"]["converted_after"] = train("converted", converted, schedule(cont, args.continue_lr,
                                                                                   max(1, cont // 10), args.distill),
                                                   args.seed + 1, teacher=teacher_copy)
        if args.models is not None:
            converted.save_pretrained(args.models / "converted", tokenizer=data.tokenizer.to_dict())
        save()
        if args.no_scratch:
            print(table(results))
            return 0

        scratch_cfg = teacher_cfg.model_copy(update={}).model_dump()
        scratch_cfg.update(attention=hybrid, **spiking)
        scratch = build_model(scratch_cfg, seed=args.seed)
        results["runs"]["scratch"] = train("from scratch", scratch, schedule(n + cont, args.lr, warmup), args.seed)
        if args.models is not None:
            scratch.save_pretrained(args.models / "scratch", tokenizer=data.tokenizer.to_dict())
        results["wall_seconds"] = time.perf_counter() - wall
        runs = results["runs"]
        teacher_loss = runs["teacher"]["val_loss"]
        after = runs["converted_after"]["val_loss"]
        results["goals"] = {"within_5pct_of_teacher": after <= 1.05 * teacher_loss,
                            "gap_to_teacher_pct": 100 * (after / teacher_loss - 1),
                            "beats_scratch": after < runs["scratch"]["val_loss"]}
        save()
        print(json.dumps(results["goals"]), flush=True)
    print(table(results))
    return 0


def table(results: dict) -> str:
    """The BENCHMARKS.md table of one result file."""
    runs, teacher = results["runs"], results["runs"]["teacher"]["val_loss"]
    names = [("teacher", "softmax teacher, non-spiking SwiGLU"),
             ("converted_before", "converted → hybrid_alt + spiking SwiGLU, before continued training"),
             ("converted_after", "converted, after continued training"),
             ("scratch", "hybrid_alt + spiking SwiGLU from scratch"),
             ("diag_attention_only", "diagnostic: teacher → hybrid_alt, FFN not spiking (no training)"),
             ("diag_spiking_only", "diagnostic: teacher with spiking FFN, softmax kept (no training)")]
    lines = ["| model | steps | val loss (nats/byte) | vs teacher | train time |", "|---|---:|---:|---:|---:|"]
    for key, label in names:
        r = runs.get(key)
        if r is None:
            continue
        seconds = f"{r['train_seconds']:.0f} s" if "train_seconds" in r else "—"
        lines.append(f"| {label} | {r.get('steps', 0)} | {r['val_loss']:.3f} | "
                     f"{100 * (r['val_loss'] / teacher - 1):+.1f}% | {seconds} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        print(table(json.loads(Path(sys.argv[2]).read_text())))
        sys.exit(0)
    sys.exit(main())
