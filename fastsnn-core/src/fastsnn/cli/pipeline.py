"""``fastsnn train``, ``fastsnn eval``, ``fastsnn generate``, ``fastsnn export``: the pipeline on text files."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path

import click
import torch

from fastsnn.config import DataConfig, TrainConfig
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
@click.option("--data", "data_path", required=True, metavar="PATH",
              help="A text file, a folder of text files, a glob ('books/**/*.txt'), or a .tokens file; the first "
                   "90% trains, the last 10% validates ([data] val_fraction).")
@click.option("--tokenizer", type=click.Choice(["byte", "char", "bpe"]),
              help="byte (any input), char (the text's characters) or bpe (trained here; extra 'bpe'). "
                   "Default: [data] tokenizer, else byte; a resumed run keeps its own.")
@click.option("--out", type=click.Path(path_type=Path),
              help="Run folder (default: train.checkpoint_dir, else runs/<config name>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out (its settings must match; see --allow-change).")
@click.option("--overwrite", is_flag=True, help="Replace what --out holds with a new run.")
@click.option("--allow-change", "allow_change", multiple=True, metavar="FIELD",
              help="With --resume: accept a changed setting, e.g. --allow-change train.lr (repeatable).")
@click.option("--max-steps", type=click.IntRange(1), help="Override train.max_steps.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where token files are cached (default: [data] cache_dir, $FASTSNN_CACHE, ~/.cache/fastsnn).")
@click.option("--progress/--no-progress", default=None,
              help="A progress bar with loss, tok/s and ETA (default: when stderr is a terminal).")
@click.option("--tensorboard", is_flag=True, help="Also write TensorBoard scalars to OUT/tensorboard (extra 'tensorboard').")
@click.option("--init", "init", type=click.Path(path_type=Path), metavar="FOLDER",
              help="Start from the weights and tokenizer of this model folder (e.g. from fastsnn convert-hf): "
                   "continued training. The model is the folder's; CONFIG's [model] may be left out.")
@click.option("--teacher", "teacher", type=click.Path(path_type=Path), metavar="FOLDER",
              help="Distil from the model saved in FOLDER (same vocabulary): the loss becomes "
                   "(1-α)·CE + α·τ²·KL with [train] distill_weight = α (> 0) and distill_temperature = τ.")
def train(config: Path, data_path: str, tokenizer: str | None, out: Path | None, resume: bool, overwrite: bool,
          allow_change: tuple[str, ...], max_steps: int | None, cache_dir: Path | None, progress: bool | None,
          tensorboard: bool, init: Path | None, teacher: Path | None) -> None:
    """Train the [model] of CONFIG on text with the [train] and [data] settings; checkpoints as safetensors.

    Every check runs before anything is written: the config (as `fastsnn validate`), the output
    folder, the data and its split, and — with --resume — that the run's recorded settings, tokenizer
    and data match. Under `torchrun --nproc_per_node=N -m fastsnn train ...` the same command trains
    with DDP (or FSDP: [train] distributed = "fsdp"); rank 0 logs and writes.
    """
    from fastsnn.train import distributed

    if resume and overwrite:
        raise click.UsageError("--resume continues a run and --overwrite replaces it: choose one")
    if allow_change and not resume:
        raise click.UsageError("--allow-change goes with --resume")
    run = load_run_file(config, require=() if init else ("model",))
    initial = None
    if init is not None:
        initial, run = _initial_model(init, run, config)
    train_cfg = run.train or TrainConfig()
    if teacher is not None and train_cfg.distill_weight <= 0:
        raise ConfigError(f"{config}: --teacher {teacher} needs [train] distill_weight > 0 (e.g. 0.5), the weight of "
                          "the distillation term; it is 0, so the teacher would be ignored")
    if teacher is None and train_cfg.distill_weight > 0:
        raise ConfigError(f"{config}: [train] distill_weight = {train_cfg.distill_weight} needs a teacher: "
                          "pass --teacher FOLDER (a saved model with the same vocabulary)")
    out = out or train_cfg.checkpoint_dir or Path("runs") / config.stem
    check_writable_destination(out, "--out")
    train_cfg = train_cfg.model_copy(update={"checkpoint_dir": out, **({"max_steps": max_steps} if max_steps else {})})
    data_cfg = run.data or DataConfig()
    data_cfg = data_cfg.model_copy(update={**({"tokenizer": tokenizer} if tokenizer else {}),
                                           **({"cache_dir": cache_dir} if cache_dir else {})})
    ctx = distributed.setup(train_cfg.distributed, train_cfg.device)
    try:
        with _stop_message_on_sigterm(ctx, out):
            _train(run, config, train_cfg, data_cfg, data_path, tokenizer, out, resume, overwrite, allow_change,
                   progress, tensorboard, ctx, initial=initial, init=init, teacher=teacher)
    finally:
        distributed.teardown(ctx)


def _train(run, config: Path, train_cfg: TrainConfig, data_cfg: DataConfig, data_path: str, tokenizer_flag: str | None,
           out: Path, resume: bool, overwrite: bool, allow_change: tuple[str, ...], progress: bool | None,
           tensorboard: bool, ctx, initial=None, init: Path | None = None, teacher: Path | None = None) -> None:
    import sys

    from fastsnn.data.corpus import prepare_corpus
    from fastsnn.model import build_model, from_pretrained
    from fastsnn.train import callbacks as cb
    from fastsnn.train import distributed, run_folder
    from fastsnn.train.checkpoints import resolve_checkpoint
    from fastsnn.train.trainer import Trainer

    echo = click.echo if ctx.is_main else (lambda *a, **k: None)
    per_process = ctx.world_size * train_cfg.grad_accum_steps
    if train_cfg.batch_size % per_process:
        raise ConfigError(
            f"{config}: train.batch_size = {train_cfg.batch_size} (the global batch) does not divide among "
            f"{ctx.world_size} process(es) × grad_accum_steps = {train_cfg.grad_accum_steps}; use a multiple of "
            f"{per_process}, or start {'a number of processes that divides it' if ctx.world_size > 1 else 'fewer micro-batches'}"
        )
    saved = None
    if resume:
        if not (out / "latest").exists():
            raise FastSNNError(f"--resume: no checkpoint in {out} (it has no 'latest' file); drop --resume to start fresh")
        saved = find_tokenizer(out)
        if tokenizer_flag and saved.kind != tokenizer_flag:
            raise FastSNNError(f"--resume: the run in {out} uses the {saved.kind} tokenizer, not {tokenizer_flag}; "
                               f"pass --tokenizer {saved.kind} (or leave it out)")
        data_cfg = data_cfg.model_copy(update={"tokenizer": saved.kind})
    else:
        run_folder.check_new_run(out, overwrite)
        if init is not None:
            saved = _init_tokenizer(init, tokenizer_flag)
            if saved is not None:
                data_cfg = data_cfg.model_copy(update={"tokenizer": saved.kind})
    corpus = None
    for turn in ("first", "rest"):  # rank 0 tokenises (once, cached); the others then read its file
        if (turn == "first") == ctx.is_main:
            corpus = prepare_corpus(data_path, saved if saved is not None else data_cfg.tokenizer,
                                    val_fraction=data_cfg.val_fraction, cache_dir=data_cfg.cache_dir,
                                    bpe_vocab_size=data_cfg.bpe_vocab_size, notice=echo)
        distributed.barrier(ctx)
    assert corpus is not None
    if corpus.tokenizer.vocab_size > run.model.vocab_size:
        raise ConfigError(
            f"{config}: model.vocab_size is {run.model.vocab_size} but the {corpus.tokenizer.kind} tokenizer of "
            f"{data_path} needs {corpus.tokenizer.vocab_size}; raise model.vocab_size"
            + ("" if corpus.tokenizer.kind != "byte" else ' (or set [data] tokenizer = "char")')
        )
    corpus.check_windows(train_cfg.seq_len, where=str(data_path))
    identity = run_folder.run_identity(run.model.model_dump(mode="json"), train_cfg.model_dump(mode="json"),
                                       corpus.tokenizer.to_dict(), corpus.fingerprint, data_cfg.model_dump(mode="json"))
    if resume:
        run_folder.check_resume(out, identity, set(allow_change))
    teacher_model = None
    if teacher is not None:
        teacher_model = from_pretrained(teacher)
        if teacher_model.config.vocab_size != run.model.vocab_size:
            raise FastSNNError(f"--teacher {teacher} has vocab_size {teacher_model.config.vocab_size}, the model "
                               f"{run.model.vocab_size}; distillation compares distributions over the same ids")
    model = initial if initial is not None else build_model(run.model, seed=train_cfg.seed)
    n_params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    echo(f"model: {n_params / 1e6:.2f}M parameters, layers: {', '.join(r.name for r in model.layer_attention)}"
         + (f"; weights from {init}" if initial is not None and not resume else "")
         + (f"; distilling from {teacher} (α {train_cfg.distill_weight:g}, τ {train_cfg.distill_temperature:g})"
            if teacher_model is not None else ""))
    echo(f"data: {data_path} — {len(corpus.train):,} train / {len(corpus.val):,} val tokens, "
         f"{corpus.tokenizer.kind} tokenizer, vocab {corpus.tokenizer.vocab_size}"
         + (f"; {ctx.world_size} processes ({ctx.mode})" if ctx.active else ""))
    # every check has passed: from here on the run folder may be written
    if ctx.is_main:
        if resume:
            run_folder.record_allowed_changes(out, identity)
        else:
            run_folder.start_run(out, identity, corpus.tokenizer.to_dict(), overwrite=overwrite)
    distributed.barrier(ctx)
    show_bar = progress if progress is not None else sys.stderr.isatty()
    callbacks: list = [cb.ProgressBar(always=True) if show_bar else cb.PrintLogger(), cb.JSONLLogger(out / "metrics.jsonl")]
    if tensorboard:
        callbacks.append(cb.TensorBoardLogger(out / "tensorboard"))
    trainer = Trainer(model, train_cfg, callbacks=callbacks, dist=ctx, teacher=teacher_model)
    trainer.tokenizer = corpus.tokenizer.to_dict()
    trainer.token_bytes = corpus.token_bytes()
    windows = corpus.random_windows("train", train_cfg.batch_size, train_cfg.seq_len, seed=train_cfg.seed,
                                    rank=ctx.rank, world_size=ctx.world_size)

    def val_batches():
        return corpus.sequential_windows("val", train_cfg.batch_size, train_cfg.seq_len)

    trainer.fit(windows, resume_from=out if resume else None, eval_data=val_batches)  # saves to ``out`` as it goes
    val = trainer.evaluate(val_batches(), max_batches=train_cfg.eval_batches)
    if not ctx.is_main:
        return
    step_dir = resolve_checkpoint(out)
    click.echo(f"validation: loss {val['loss']:.4f}, perplexity {val['perplexity']:.2f}"
               + (f", bits/byte {val['bits_per_byte']:.3f}" if "bits_per_byte" in val else "")
               + f" ({val['tokens']:,} tokens)")
    click.echo(f"checkpoint: {step_dir}")
    saved_model = from_pretrained(step_dir)  # what was written (also whole when training was sharded)
    prompt = torch.from_numpy(corpus.val[: min(16, len(corpus.val), (run.model.max_seq_len or 80) - 1)].astype("int64"))[None]
    new_tokens = min(64, (run.model.max_seq_len or 80) - prompt.shape[1])
    sample = saved_model.generate(prompt, max_new_tokens=new_tokens, temperature=0.8, top_k=20,
                                  generator=torch.Generator().manual_seed(0))
    click.echo("sample: " + json.dumps(decode_lenient(corpus.tokenizer, sample[0]), ensure_ascii=False))


def _initial_model(init: Path, run, config: Path):
    """``--init``: the model of the folder, and ``run`` with its [model]; CONFIG's own [model], if any,
    must be the same model (else a ConfigError naming the fields that differ)."""
    from fastsnn.model import from_pretrained

    model = from_pretrained(init)
    if run.model is not None and run.model != model.config:
        mine, theirs = run.model.model_dump(mode="json"), model.config.model_dump(mode="json")
        fields = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
        raise ConfigError(f"{config}: [model] differs from the model in --init {init} ({', '.join(fields)}); "
                          "remove [model] from the config (the folder's model is used) or make it the same")
    return model, run.model_copy(update={"model": model.config})


def _init_tokenizer(init: Path, tokenizer_flag: str | None):
    """The tokenizer saved with the ``--init`` model (None when it has none: then ``--tokenizer`` / [data] apply)."""
    try:
        saved = find_tokenizer(init)
    except FastSNNError:
        return None
    if tokenizer_flag and saved.kind != tokenizer_flag:
        raise FastSNNError(f"--init {init} comes with its {saved.kind} tokenizer (its embedding rows are that "
                           f"tokenizer's ids), not {tokenizer_flag}; leave --tokenizer out")
    return saved


@contextlib.contextmanager
def _stop_message_on_sigterm(ctx, out: Path):
    """In a distributed run, torchrun stops the surviving processes with SIGTERM when one fails:
    say so (and that the last checkpoint is intact) instead of vanishing."""
    if not ctx.active or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise FastSNNError(f"rank {ctx.rank}: stopped by the launcher (signal {signum}): another process failed or "
                           f"the run was interrupted; the last checkpoint in {out} is intact — continue with --resume")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--prompt", help="Text to continue (encoded with the checkpoint's tokenizer); prints prompt + continuation.")
@click.option("--prompt-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the prompt from this UTF-8 text file instead, of any length: it is streamed into the "
                   "cache in chunks (memory independent of its length for hybrid layouts); prints only the "
                   "continuation, and a prefill report on stderr.")
@click.option("--prefill-chunk", default=512, show_default=True, type=click.IntRange(1),
              help="Prompt tokens per prefill chunk.")
@click.option("--max-new-tokens", default=100, show_default=True, type=click.IntRange(0))
@click.option("--temperature", default=0.8, show_default=True, type=click.FloatRange(0))
@click.option("--top-k", type=click.IntRange(1))
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--compile", "compile_", is_flag=True,
              help="Decode with the compiled step (torch.compile; needs a C++ compiler): the first token "
                   "waits for the compile (seconds to a minute), the rest decode about 2× faster on a CPU.")
def generate(checkpoint: Path, prompt: str | None, prompt_file: Path | None, prefill_chunk: int, max_new_tokens: int,
             temperature: float, top_k: int | None, top_p: float | None, seed: int, compile_: bool) -> None:
    """Continue a prompt (--prompt TEXT or --prompt-file FILE) with the model saved at CHECKPOINT — a
    run or model folder, or a .snn file — (streamed prefill, then decode from the cache)."""
    from fastsnn.loading import load_with_tokenizer

    if (prompt is None) == (prompt_file is None):
        raise click.UsageError("give the prompt as exactly one of --prompt TEXT or --prompt-file FILE")
    model, tokenizer = load_with_tokenizer(checkpoint)
    if tokenizer is None:
        raise FastSNNError(f"{checkpoint} was saved without a tokenizer (tokenizer.json), so text cannot be encoded; "
                           "export it from a run folder trained on text")
    model.layout_for_decoding(compiled=compile_)
    if compile_:
        from fastsnn.model.compiled_decode import compiler_problem

        problem = compiler_problem()
        if problem is not None:
            raise FastSNNError(f"--compile: {problem}")
        click.echo("compiling the decode step (once per process; seconds to a minute)…", err=True)
    generator = torch.Generator().manual_seed(seed)
    if prompt is not None:
        ids = tokenizer.encode(prompt).unsqueeze(0)
        if ids.shape[1] == 0:
            raise FastSNNError("--prompt is empty; give at least one character")
        out = model.generate(ids, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                             prefill_chunk=prefill_chunk, generator=generator, compile=compile_)
        click.echo(decode_lenient(tokenizer, out[0]))
        return
    ids = read_prompt_file(prompt_file, tokenizer).unsqueeze(0)  # (1, T)
    new = stream_prompt(model, ids, prefill_chunk, max_new_tokens, temperature, top_k, top_p, generator, compile_)
    click.echo(decode_lenient(tokenizer, new[0]))


def read_prompt_file(path: Path, tokenizer) -> torch.Tensor:
    """The token ids ``[T]`` of a UTF-8 text file, with errors that say what is wrong and where.

    :raises FastSNNError: the file is empty, is not UTF-8 text (an undecodable byte or a NUL byte,
        with its offset), or has a character the char tokenizer does not know (line and column).
    """
    raw = path.read_bytes()
    if not raw:
        raise FastSNNError(f"--prompt-file {path} is empty; give a text file with at least one character")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise FastSNNError(f"--prompt-file {path} is not text: it has a NUL byte at offset {nul} (a binary file?); "
                           "give a UTF-8 text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FastSNNError(f"--prompt-file {path} is not UTF-8 text: byte 0x{raw[err.start]:02x} at offset "
                           f"{err.start} cannot be decoded; convert it to UTF-8 (e.g. iconv -t utf-8)") from None
    chars = getattr(tokenizer, "chars", None)  # the char tokenizer's vocabulary; byte and BPE read any text
    if chars is not None:
        known = set(chars)
        unknown = sorted(set(text) - known)
        if unknown:
            first = next(i for i, c in enumerate(text) if c not in known)
            line = text.count("\n", 0, first) + 1
            column = first - (text.rfind("\n", 0, first) + 1) + 1
            shown = ", ".join(repr(c) for c in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            raise FastSNNError(
                f"--prompt-file {path}: character {text[first]!r} (U+{ord(text[first]):04X}) at line {line}, column "
                f"{column} is not in the model's tokenizer vocabulary of {tokenizer.vocab_size} characters "
                f"({len(unknown)} unknown in all: {shown}); remove or replace them, or use a model trained with "
                "the byte tokenizer"
            )
    return tokenizer.encode(text)


def stream_prompt(model, ids: torch.Tensor, chunk: int, max_new_tokens: int, temperature: float, top_k: int | None,
                  top_p: float | None, generator: torch.Generator, compile: bool = False) -> torch.Tensor:
    """Prefill ``ids (1, T)`` chunk by chunk (progress and a report on stderr), then decode: ``(1, new)``."""
    import time

    total = ids.shape[1] + max(0, max_new_tokens - 1)
    limit = model.length_limit()
    if limit is not None and total > limit[0]:
        raise FastSNNError(f"--prompt-file has {ids.shape[1]:,} tokens + {max_new_tokens} new tokens, more than "
                           f"max_seq_len={limit[0]:,} ({limit[1]}); shorten the prompt or ask for fewer tokens")
    cache = model.init_cache(1)
    cache.reserve(total)
    started = time.perf_counter()
    last_report = [started]

    def progress(done: int) -> None:
        now = time.perf_counter()
        if now - last_report[0] >= 5 and done < ids.shape[1]:
            last_report[0] = now
            click.echo(f"prefill: {done:,}/{ids.shape[1]:,} tokens ({done / (now - started):,.0f} tokens/s)", err=True)

    logits = model.prefill(ids, cache, chunk_size=chunk, progress=progress)
    seconds = time.perf_counter() - started
    growth = cache.bytes_per_token()
    memory = (f"cache {cache.nbytes() / 2**20:,.1f} MiB, growing {growth:,} bytes per token (layers that keep "
              "every token: softmax KV)" if growth else
              f"cache {cache.nbytes() / 2**20:,.1f} MiB, constant (no layer keeps every token)")
    click.echo(f"prefill: {ids.shape[1]:,} tokens in chunks of {min(chunk, ids.shape[1]):,}, {seconds:.2f} s "
               f"({ids.shape[1] / seconds:,.0f} tokens/s); {memory}", err=True)
    return model.decode(logits[:, -1], cache, max_new_tokens, temperature, top_k, top_p, generator, compile=compile)


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
    writer = get_registry().create("exporter", format_name, **params)  # unknown format or params: before any work
    check_writable_destination(out, "--out")
    model, tokenizer = load_with_tokenizer(source)
    metadata: dict = {"source": str(source)}
    if tokenizer is not None:
        metadata["tokenizer"] = tokenizer.to_dict()
    files = export_model(model, format_name, out, metadata=metadata, quantize=quantize, group_size=group_size,
                         kv_cache=kv_cache, params=params, writer=writer)
    for path in files:
        click.echo(f"wrote {path}")
    for note in writer.notes:
        click.echo(note)


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
