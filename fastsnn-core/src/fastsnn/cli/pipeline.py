"""``fastsnn train``, ``fastsnn generate``, ``fastsnn export``: the pipeline on text files."""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch

from fastsnn.config import TrainConfig
from fastsnn.config.checks import load_run_file
from fastsnn.errors import ConfigError, FastSNNError
from fastsnn.model_folder import find_tokenizer
from fastsnn.safe_io import check_writable_destination


def decode_lenient(tokenizer, ids: torch.Tensor) -> str:
    """Decode ids ``[len]`` whole (a multi-byte character of the byte tokenizer stays one character),
    showing ids the tokenizer does not know as U+FFFD.

    A model's vocabulary may be larger than its tokenizer's; an under-trained model can still
    sample those never-seen ids.
    """
    return tokenizer.decode(ids, unknown="replace")


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path),
              help="A UTF-8 text file; the first 90% trains, the last 10% validates.")
@click.option("--tokenizer", type=click.Choice(["char", "byte"]), default="char", show_default=True)
@click.option("--out", type=click.Path(path_type=Path),
              help="Run folder (default: train.checkpoint_dir, else runs/<config name>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out (its settings must match; see --allow-change).")
@click.option("--overwrite", is_flag=True, help="Replace what --out holds with a new run.")
@click.option("--allow-change", "allow_change", multiple=True, metavar="FIELD",
              help="With --resume: accept a changed setting, e.g. --allow-change train.lr (repeatable).")
@click.option("--max-steps", type=click.IntRange(1), help="Override train.max_steps.")
def train(config: Path, data_path: Path, tokenizer: str, out: Path | None, resume: bool, overwrite: bool,
          allow_change: tuple[str, ...], max_steps: int | None) -> None:
    """Train the [model] of CONFIG on a text file with the [train] settings; checkpoints as safetensors.

    Every check runs before anything is written: the config (as `fastsnn validate`), the output
    folder, the data and its split, and — with --resume — that the run's recorded settings, tokenizer
    and data match.
    """
    from fastsnn.data.text import TextDataset
    from fastsnn.model import build_model
    from fastsnn.train import run_folder
    from fastsnn.train.checkpoints import resolve_checkpoint
    from fastsnn.train.trainer import Trainer

    if resume and overwrite:
        raise click.UsageError("--resume continues a run and --overwrite replaces it: choose one")
    if allow_change and not resume:
        raise click.UsageError("--allow-change goes with --resume")
    run = load_run_file(config, require=("model",))
    train_cfg = run.train or TrainConfig()
    out = out or train_cfg.checkpoint_dir or Path("runs") / config.stem
    check_writable_destination(out, "--out")
    train_cfg = train_cfg.model_copy(update={"checkpoint_dir": out, **({"max_steps": max_steps} if max_steps else {})})
    if resume:
        if not (out / "latest").exists():
            raise FastSNNError(f"--resume: no checkpoint in {out} (it has no 'latest' file); drop --resume to start fresh")
        saved = find_tokenizer(out)
        if saved.kind != tokenizer:
            raise FastSNNError(f"--resume: the run in {out} uses the {saved.kind} tokenizer, not {tokenizer}; "
                               f"pass --tokenizer {saved.kind}")
        data = TextDataset.from_file(data_path, tokenizer=saved)  # the run's vocabulary: ids never remapped
    else:
        run_folder.check_new_run(out, overwrite)
        data = TextDataset.from_file(data_path, tokenizer=tokenizer)
    if data.tokenizer.vocab_size > run.model.vocab_size:
        raise ConfigError(
            f"{config}: model.vocab_size is {run.model.vocab_size} but the {tokenizer} tokenizer of {data_path} "
            f"needs {data.tokenizer.vocab_size}; raise model.vocab_size"
        )
    data.check_windows(train_cfg.seq_len, where=str(data_path))
    identity = run_folder.run_identity(run.model.model_dump(mode="json"), train_cfg.model_dump(mode="json"),
                                       data.tokenizer.to_dict(), run_folder.data_fingerprint(data_path))
    if resume:
        run_folder.check_resume(out, identity, set(allow_change))
    model = build_model(run.model, seed=train_cfg.seed)
    n_params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    click.echo(f"model: {n_params / 1e6:.2f}M parameters, layers: {', '.join(r.name for r in model.layer_attention)}")
    click.echo(f"data: {data_path} — {len(data.train):,} train / {len(data.val):,} val tokens, "
               f"vocab {data.tokenizer.vocab_size}")
    # every check has passed: from here on the run folder may be written
    if resume:
        run_folder.record_allowed_changes(out, identity)
    else:
        run_folder.start_run(out, identity, data.tokenizer.to_dict(), overwrite=overwrite)
    trainer = Trainer(model, train_cfg)
    trainer.tokenizer = data.tokenizer.to_dict()
    windows = data.random_windows("train", train_cfg.batch_size, train_cfg.seq_len, seed=train_cfg.seed)
    trainer.fit(windows, resume_from=out if resume else None)  # saves to ``out`` as it goes and at the end
    step_dir = resolve_checkpoint(out)
    val = trainer.evaluate(data.sequential_windows("val", train_cfg.batch_size, train_cfg.seq_len), max_batches=20)
    click.echo(f"validation: loss {val['loss']:.4f}, perplexity {val['perplexity']:.2f}")
    click.echo(f"checkpoint: {step_dir}")
    prompt = data.val[: min(16, len(data.val), run.model.max_seq_len - 1)].unsqueeze(0)
    new_tokens = min(64, run.model.max_seq_len - prompt.shape[1])
    sample = model.eval().generate(prompt, max_new_tokens=new_tokens, temperature=0.8, top_k=20,
                                   generator=torch.Generator().manual_seed(0))
    click.echo("sample: " + json.dumps(decode_lenient(data.tokenizer, sample[0]), ensure_ascii=False))


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--prompt", required=True, help="Text to continue (encoded with the checkpoint's tokenizer).")
@click.option("--max-new-tokens", default=100, show_default=True, type=click.IntRange(0))
@click.option("--temperature", default=0.8, show_default=True, type=click.FloatRange(0))
@click.option("--top-k", type=click.IntRange(1))
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True))
@click.option("--seed", default=0, show_default=True, type=int)
def generate(checkpoint: Path, prompt: str, max_new_tokens: int, temperature: float, top_k: int | None,
             top_p: float | None, seed: int) -> None:
    """Continue PROMPT with the model saved at CHECKPOINT — a run or model folder, or a .snn file —
    (prefill, then decode from the cache)."""
    from fastsnn.loading import load_with_tokenizer

    model, tokenizer = load_with_tokenizer(checkpoint)
    if tokenizer is None:
        raise FastSNNError(f"{checkpoint} was saved without a tokenizer (tokenizer.json), so text cannot be encoded; "
                           "export it from a run folder trained on text")
    ids = tokenizer.encode(prompt).unsqueeze(0)
    if ids.shape[1] == 0:
        raise FastSNNError("--prompt is empty; give at least one character")
    out = model.generate(ids, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                         generator=torch.Generator().manual_seed(seed))
    click.echo(decode_lenient(tokenizer, out[0]))


@click.command()
@click.argument("source", metavar="SRC", type=click.Path(path_type=Path))
@click.option("--format", "--exporter", "format_name", default="folder", show_default=True,
              help="A registered exporter: folder, snn, nir, onnx, … (`fastsnn list exporter`).")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Output path: a folder for 'folder', a file for the others (model.snn, model.nir, model.onnx).")
@click.option("--quantize", type=click.Choice(["w8"]), help="Store int8 weights (W8ASpike) instead of float ones.")
@click.option("--group-size", type=click.IntRange(1), help="With --quantize: one scale per this many input columns "
              "(e.g. 128) instead of one per output channel.")
@click.option("--kv-cache", type=click.Choice(["int8"]), help="Record an int8 decoding cache for the layers that have one.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="An exporter parameter (`fastsnn info exporter NAME`), e.g. --set coding=bitwise.")
def export(source: Path, format_name: str, out: Path, quantize: str | None, group_size: int | None,
           kv_cache: str | None, settings: tuple[str, ...]) -> None:
    """Export the model saved at SRC (a run or model folder, or a .snn file) in a registered format
    (weights only, no trainer state). Everything is checked before any work: the format, its
    parameters, the output path, and that the format can carry every part of the model."""
    from fastsnn.cli.bench import parse_setting
    from fastsnn.export.dispatch import export_model
    from fastsnn.loading import load_with_tokenizer
    from fastsnn.plugins import get_registry

    if group_size is not None and quantize is None:
        raise click.UsageError("--group-size goes with --quantize w8")
    params = dict(parse_setting(s) for s in settings)
    get_registry().create("exporter", format_name, **params)  # unknown format or params: before any work
    check_writable_destination(out, "--out")
    model, tokenizer = load_with_tokenizer(source)
    metadata: dict = {"source": str(source)}
    if tokenizer is not None:
        metadata["tokenizer"] = tokenizer.to_dict()
    files = export_model(model, format_name, out, metadata=metadata, quantize=quantize, group_size=group_size,
                         kv_cache=kv_cache, params=params)
    for path in files:
        click.echo(f"wrote {path}")


@click.command("inspect")
@click.argument("path", metavar="FILE", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def inspect_command(path: Path, as_json: bool) -> None:
    """What a .snn file (or model folder) holds: format and versions, members with sizes and
    checksums, the model, tensors per dtype, quantisation, spike coding, and what loading it needs."""
    from fastsnn.cli.output import echo_json, format_table
    from fastsnn.loading import inspect_file
    from fastsnn.quantize import describe

    info = inspect_file(path)
    if as_json:
        echo_json(info)
        return
    kind = ".snn file" if info["kind"] == "snn" else "model folder"
    click.echo(f"{info['path']}: {kind}, {info['bytes']:,} bytes, format {info['format']} version "
               f"{info['format_version']}, written by FastSNN {info['written_by']}")
    model = info["model"]
    if model:
        click.echo(f"model: vocab {model['vocab_size']}, d_model {model['d_model']}, {model['n_layers']} layers, "
                   f"{model['n_heads']} heads, max_seq_len {model['max_seq_len']}, attention {model['attention']}, "
                   f"neuron {model['neuron']}")
    weights = info["weights"]
    per_dtype = ", ".join(f"{v['values']:,} {k}" for k, v in sorted(weights["by_dtype"].items()))
    click.echo(f"weights: {weights['tensors']} tensors ({per_dtype}); quantisation: {describe(info['quantization'])}")
    coding = info.get("spike_coding")
    if coding:
        for neuron in coding["neurons"]:
            click.echo(f"spikes: {neuron['class'].rsplit('.', 1)[-1]} {neuron['params']}, count bounds "
                       f"{neuron['count_bounds']}, in {len(neuron['modules'])} modules")
        click.echo(f"event coding: {coding['event_coding'] or 'not fixed (count view)'}")
    click.echo(format_table([{"member": m["name"], "bytes": f"{m['bytes']:,}", "sha256": m["sha256"][:16] + "…",
                              "checksum": {True: "ok", False: "MISMATCH", None: "-"}[m["verified"]]}
                             for m in info["members"]]))
    if info["components"]:
        click.echo(format_table([{"kind": c["kind"], "name": c["name"], "distribution": c.get("distribution"),
                                  "installed": "yes" if c["installed"] else "NO"} for c in info["components"]]))
    needs = info["needs"]
    click.echo(f"needs: {', '.join(needs['distributions'])}"
               + (f" — missing here: {', '.join(needs['missing'])} ({needs['install']})" if needs["missing"] else
                  " (all installed here)"))
    click.echo(f"load: fastsnn.load({str(path)!r})" + ("; fastsnn generate works (tokenizer included)"
                                                       if info["has_tokenizer"] else "; no tokenizer included"))
    if not info["all_verified"]:
        raise FastSNNError(f"{path}: a member does not match its checksum (see above); the file was modified or damaged")
