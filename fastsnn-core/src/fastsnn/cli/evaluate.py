"""``fastsnn eval RUN --data PATH``: loss, perplexity, bits per byte and spike statistics on any text."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click


@click.command("eval")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--data", "data_path", required=True, metavar="PATH",
              help="Text to score: a file, a folder of text files or a glob (all of it is scored).")
@click.option("--seq-len", type=click.IntRange(2), help="Tokens per window (default: the run's train.seq_len).")
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1))
@click.option("--max-batches", type=click.IntRange(1), help="Score only the first N batches.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where token files are cached (default: $FASTSNN_CACHE or ~/.cache/fastsnn).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def evaluate(run: Path, data_path: str, seq_len: int | None, batch_size: int, max_batches: int | None,
             cache_dir: Path | None, as_json: bool) -> None:
    """Score the model of RUN (a run folder, checkpoint or model folder) on the text at --data.

    The text is read with the run's own tokenizer. Characters a char tokenizer does not know are
    left out of the score and reported (how many, which); byte and BPE tokenizers know every
    character. Reports the loss (nats per token), perplexity, bits per byte (the loss of the scored
    tokens in bits, over their UTF-8 bytes) and, per spiking layer, spikes per value, sparsity, and
    the fractions of silent and saturated units.
    """
    from fastsnn.config import TrainConfig
    from fastsnn.data.corpus import prepare_corpus
    from fastsnn.errors import FastSNNError
    from fastsnn.model import from_pretrained
    from fastsnn.model_folder import find_tokenizer, resolve_model_folder
    from fastsnn.safe_io import read_json
    from fastsnn.train.checkpoints import STATE_JSON
    from fastsnn.train.trainer import Trainer

    model = from_pretrained(run)
    folder = resolve_model_folder(run)
    tokenizer = find_tokenizer(folder)
    if seq_len is None:
        state = folder / STATE_JSON
        trained = (read_json(state).get("train_config") or {}).get("seq_len") if state.is_file() else None
        seq_len = int(trained) if trained else 257
    seq_len = min(seq_len, model.config.max_seq_len + 1)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise FastSNNError(f"{run}: the tokenizer has {tokenizer.vocab_size} ids but the model only "
                           f"{model.config.vocab_size}; the run folder is inconsistent")
    corpus = prepare_corpus(data_path, tokenizer, val_fraction=0.0, cache_dir=cache_dir, unknown="skip",
                            notice=lambda m: None if as_json else click.echo(m, err=True))
    unknown = sum(corpus.unknown.values())
    if len(corpus.tokens) < 2:
        raise FastSNNError(f"{data_path}: fewer than 2 tokens are left to score"
                           + (f" ({unknown} unknown characters left out)" if unknown else ""))
    trainer = Trainer(model, TrainConfig(seq_len=seq_len, batch_size=batch_size, distributed="none"), callbacks=[])
    trainer.token_bytes = corpus.token_bytes()
    windows = corpus.sequential_windows("all", batch_size, seq_len, tail=True, max_batches=max_batches)
    result = trainer.evaluate(windows, spike_stats=True)
    scored_chars = len(corpus.tokens) if tokenizer.kind == "char" else None
    report = {
        "run": str(run), "data": str(data_path), "tokenizer": tokenizer.kind, "seq_len": seq_len,
        "loss": result["loss"], "perplexity": result["perplexity"], "bits_per_byte": result.get("bits_per_byte"),
        "tokens": result["tokens"], "bytes": result.get("bytes"),
        "unknown_characters": unknown,
        "unknown": dict(sorted(corpus.unknown.items(), key=lambda kv: -kv[1])),
        "spikes": result.get("spikes", {}),
    }
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=1))
        return
    click.echo(f"{data_path}: {result['tokens']:,} tokens scored ({tokenizer.kind} tokenizer, windows of {seq_len})")
    click.echo(f"loss {result['loss']:.4f} nats/token | perplexity {result['perplexity']:.2f}"
               + (f" | bits/byte {result['bits_per_byte']:.4f}" if result.get("bits_per_byte") is not None else ""))
    if unknown:
        total = unknown + (scored_chars or 0)
        listed = ", ".join(f"{c!r} ×{n}" for c, n in list(report["unknown"].items())[:10])
        click.echo(f"unknown characters: {unknown:,} of {total:,} ({100 * unknown / max(total, 1):.2f}%) are not "
                   f"in the run's vocabulary and were not scored: {listed}"
                   + (" …" if len(report["unknown"]) > 10 else ""))
    if report["spikes"]:
        click.echo("spiking layers: spikes/value, sparsity, silent units, saturated units")
        for name, s in report["spikes"].items():
            click.echo(f"  {name}: {s['firing_rate']:.3f}, {s['sparsity']:.3f}, {s['silent']:.3f}, {s['saturated']:.3f}")
    if not math.isfinite(result["loss"]):
        raise FastSNNError("the loss is not finite: the model's weights or the data are broken")
