"""``fastsnn scope SRC --data PATH --out DIR``: SpikeScope's report of a saved model on some text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


@click.command("scope")
@click.argument("source", metavar="SRC", required=False, type=click.Path(path_type=Path))
@click.option("--data", "data_path", required=True, metavar="PATH",
              help="Text to run through the model: a file, a folder of text files, a glob, or a .tokens file.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Report folder (new, empty, or an earlier report, which is replaced): report.html, scope.json, PNGs.")
@click.option("--compare", nargs=2, metavar="A B", type=click.Path(path_type=Path),
              help="Scope two saved models (e.g. before/after conversion) on the same text, side by side.")
@click.option("--seq-len", type=click.IntRange(2), help="Tokens per sequence (default: 256, at most the model's max_seq_len).")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(1))
@click.option("--max-batches", default=16, show_default=True, type=click.IntRange(1),
              help="Run at most this many batches (statistics settle quickly).")
@click.option("--coding", metavar="NAME", help="Count ACs under this registered coding (default: unary, one event per "
              "unit count, as binary/ternary codes carry it). Steps per coding are shown for every coding either way.")
@click.option("--pj", "pj", multiple=True, metavar="OP=PJ",
              help="Override the energy table (pJ per op): mac_fp16 (default 1.5), mac_int8 (0.23), add_int8 (0.03).")
@click.option("--skip-unknown", is_flag=True,
              help="Leave out characters a char tokenizer does not know (default: they are an error).")
@click.option("--no-plots", is_flag=True, help="Write the JSON and HTML without PNG plots.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where token files are cached (default: $FASTSNN_CACHE or ~/.cache/fastsnn).")
@click.option("--json", "as_json", is_flag=True, help="Print the report's summary as JSON instead of text.")
def scope_command(source: Path | None, data_path: str, out: Path, compare: tuple[Path, Path] | None, seq_len: int | None,
          batch_size: int, max_batches: int, coding: str | None, pj: tuple[str, ...], skip_unknown: bool, no_plots: bool,
          cache_dir: Path | None, as_json: bool) -> None:
    """Look inside the model saved at SRC (a run folder, model folder or .snn file) on the text at --data.

    The text is read with the model's own tokenizer. Per spiking layer: firing rate, sparsity,
    spike-count histogram, silent and saturated units, time steps per coding; per weight layer:
    MACs, and ACs (spike events × fan-out) where it reads spikes, with the energy these cost
    (45 nm figures, Horowitz ISSCC 2014, as SpikingBrain uses; --pj overrides). Writes
    report.html (self-contained), scope.json and PNG plots (with matplotlib:
    pip install "fastsnn-core[scope]") to --out; nothing is written unless everything worked.
    """
    from fastsnn.errors import FastSNNError
    from fastsnn.spikescope import EnergyTable, check_report_folder, scope, write_report

    if (source is None) == (compare is None):
        raise click.UsageError("give SRC, or --compare A B (not both)")
    sources = list(compare) if compare is not None else [source]
    table = EnergyTable.from_overrides(EnergyTable.parse(pj))
    if coding is not None and coding != "unary":
        from fastsnn.plugins import get_registry

        get_registry().get("coding", coding)  # unknown → did-you-mean, before any work
    check_report_folder(out)
    reports = []
    for path in sources:
        model, tokenizer = _load(path)
        batches, source_name = _batches(model, tokenizer, path, data_path, seq_len, batch_size, max_batches,
                                        cache_dir, as_json, skip_unknown)
        try:
            report = scope(model, batches, coding=coding, energy=table, max_batches=max_batches, name=str(path),
                               source=source_name)
        except FastSNNError as err:
            raise FastSNNError(f"{path}: {err}") from None
        reports.append(report)
    written = write_report(out, *reports, plots=not no_plots)
    if as_json:
        from fastsnn.cli.output import echo_json

        echo_json({"out": str(written.folder), "files": written.files, "notices": written.notices,
                   "reports": [{"name": r.name, **r.summary(), "notes": r.notes} for r in reports]})
        return
    for report in reports:
        _echo_summary(report)
    for notice in written.notices:
        click.secho(notice, fg="yellow", err=True)
    click.echo(f"report: {written.html} (and {', '.join(f for f in written.files if f != 'report.html')})")


def _load(path: Path) -> tuple[Any, Any]:
    from fastsnn.loading import load_with_tokenizer

    return load_with_tokenizer(path)


def _batches(model: Any, tokenizer: Any, path: Path, data_path: str, seq_len: int | None, batch_size: int,
             max_batches: int, cache_dir: Path | None, quiet: bool, skip_unknown: bool) -> tuple[list, str]:
    """Token windows ``[B, seq_len]`` of ``data_path`` read with the model's tokenizer (or a ``.tokens``
    file's ids when the model has none); the vocabulary is checked against the model's."""
    from fastsnn.data.corpus import prepare_corpus
    from fastsnn.data.token_file import SUFFIX, open_token_file
    from fastsnn.data.tokenizer import tokenizer_from_dict
    from fastsnn.errors import FastSNNError

    vocab = model.config.vocab_size
    if tokenizer is None:
        if not str(data_path).endswith(SUFFIX):
            raise FastSNNError(f"{path} was saved without a tokenizer (tokenizer.json), so the text {data_path} cannot "
                               f"be read as its ids; pass token ids as a {SUFFIX} file made for this model")
        _, meta = open_token_file(Path(data_path))
        tokenizer = tokenizer_from_dict(meta.get("tokenizer"))
        if tokenizer.vocab_size > vocab:
            raise FastSNNError(f"{data_path}: its ids come from a {tokenizer.kind} tokenizer of {tokenizer.vocab_size} "
                               f"ids, but {path} has a vocabulary of {vocab}; tokenise the text with the tokenizer the "
                               "model was trained with")
    if tokenizer is not None and tokenizer.vocab_size > vocab:
        raise FastSNNError(f"{path}: the tokenizer has {tokenizer.vocab_size} ids but the model only {vocab}; "
                           "the model and its tokenizer.json do not belong together")
    corpus = prepare_corpus(data_path, tokenizer, val_fraction=0.0, cache_dir=cache_dir, unknown="skip",
                            notice=lambda m: None if quiet else click.echo(m, err=True))
    unknown = sum(corpus.unknown.values())
    if unknown:
        listed = ", ".join(f"{c!r} ×{n}" for c, n in sorted(corpus.unknown.items(), key=lambda kv: (-kv[1], kv[0]))[:8])
        message = f"{data_path}: {unknown:,} characters are not in {path}'s vocabulary ({listed})"
        if not skip_unknown:
            raise FastSNNError(f"{message}; give text the model was trained on, or pass --skip-unknown to leave them out")
        if not quiet:
            click.echo(f"{message}; left out (--skip-unknown)", err=True)
    if len(corpus.tokens) < 2:
        raise FastSNNError(f"{data_path}: fewer than 2 tokens of it fit {path}'s vocabulary"
                           + (f" ({unknown} unknown characters left out)" if unknown else "")
                           + "; give text in the language the model was trained on")
    length = min(seq_len or 256, model.config.max_seq_len)
    windows = corpus.sequential_windows("all", batch_size, length, tail=True, max_batches=max_batches)
    return list(windows), str(data_path)


def _echo_summary(report: Any) -> None:
    s = report.summary()
    click.echo(f"{report.name}: {report.batches} batches, {report.inputs:,} tokens")
    for note in report.notes:
        click.echo(f"  note: {note}")
    if report.layers:
        click.echo("  spiking layers: spikes/value, sparsity, silent units, saturated units")
        for layer in report.layers:
            click.echo(f"    {layer.name}: {layer.firing_rate:.3f}, {layer.sparsity:.3f}, {layer.silent:.3f}, "
                       f"{layer.saturated:.3f}")
    saving = f", {100 * s['energy_saving']:.1f}% less" if s["energy_saving"] is not None else ""
    click.echo(f"  energy proxy: dense FP16 {s['dense_fp16_pj'] / 1e6:,.3f} µJ, spiking {s['spiking_pj'] / 1e6:,.3f} µJ"
               f"{saving} ({s['macs']:,} MACs, {s['acs']:,.0f} ACs under {report.coding})")
