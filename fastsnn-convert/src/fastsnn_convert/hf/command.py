"""``fastsnn convert-hf FOLDER --out DIR``: a local Hugging Face causal LM → a FastSNN model folder.

Loads the model with ``transformers`` from a folder on disk (never the Hub: ``local_files_only``),
converts it with :func:`~fastsnn_convert.hf.convert_causal_lm`, carries its tokenizer over with
:func:`~fastsnn_convert.hf.convert_tokenizer`, compares the two models' next-token predictions on
a few ids, and writes the model folder atomically (``fastsnn generate``, ``fastsnn eval`` and
``fastsnn train --init`` read it). Every input is checked before anything is written.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import torch

from fastsnn import FastSNNError, get_registry
from fastsnn.safe_io import check_writable_destination
from fastsnn_convert.hf.fidelity import logit_agreement


def load_causal_lm(folder: Path) -> Any:
    """``AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)`` in fp32, eval mode.

    :raises FastSNNError: not a folder, no ``config.json``, or transformers cannot build the model
        (its message kept).
    """
    from fastsnn_convert.hf.lazy import require_transformers

    if not folder.is_dir():
        raise FastSNNError(f"{folder} is not a folder; give the folder a Hugging Face model was saved to "
                           "(config.json + weights, e.g. from save_pretrained or a Hub snapshot)")
    if not (folder / "config.json").is_file():
        raise FastSNNError(f"{folder} has no config.json; it is not a Hugging Face model folder")
    transformers = require_transformers()
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True,
                                                                  dtype=torch.float32)
    except Exception as err:  # transformers raises ValueError/OSError/KeyError for unknown or broken folders
        raise FastSNNError(f"transformers could not load a causal LM from {folder} ({type(err).__name__}: {err})") from None
    return model.eval()


def prediction_agreement(reference: Any, model: torch.nn.Module, ids: torch.Tensor) -> dict[str, float]:
    """How close ``model``'s next-token distributions are to ``reference``'s on ``ids [B, T]``.

    :returns: ``top1_agreement`` (fraction of positions whose argmax agrees), ``kl`` (mean
        KL(reference ‖ model), nats per position) and ``max_abs_logit_diff``.
    """
    with torch.no_grad():
        ref = reference(ids).logits.float()
        out = model.eval()(ids)
        out = (out if torch.is_tensor(out) else out.logits).float()[..., : ref.shape[-1]]
    top1, kl = logit_agreement(ref, out)
    return {"top1_agreement": top1, "kl": kl, "max_abs_logit_diff": float((ref - out).abs().max())}


def _layout(text: str) -> Any:
    """``--layout``: a name (``hybrid_alt``, ``softmax``, ``swa`` …) or a JSON table / list."""
    text = text.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise FastSNNError(f"--layout {text!r} is not valid JSON ({err})") from None
    return text


def _layers(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise FastSNNError(f"--softmax-layers takes layer indices separated by commas (e.g. 0,5), got {text!r}") from None


@click.command("convert-hf")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="model folder to write.")
@click.option("--layout", default="hybrid_alt", show_default=True,
              help="attention layout: a name (hybrid_alt, softmax, swa, linear, gla) or a JSON table/list.")
@click.option("--softmax-layers", help="layers that keep softmax attention, e.g. 0,5.")
@click.option("--window", type=int, help="window of the SWA layers that do not set one.")
@click.option("--spiking/--no-spiking", default=True, show_default=True,
              help="pass the FFN's hidden state through the spiking neuron.")
@click.option("--neuron", default=None,
              help='the FFN neuron: a name or a JSON table (default {"name": "adaptive_threshold", "k": 3, "signed": true}).')
@click.option("--max-seq-len", type=int, help="sequence limit (softmax layers need one; default the source's).")
@click.option("--check-tokens", type=click.IntRange(0), default=64, show_default=True,
              help="compare predictions with the source model on this many random ids (0: skip).")
@click.option("--report", "report_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def convert_hf_command(source: Path, out: Path, layout: str, softmax_layers: str | None, window: int | None,
                       spiking: bool, neuron: str | None, max_seq_len: int | None, check_tokens: int,
                       report_format: str) -> None:
    """Convert the Hugging Face causal LM saved in SOURCE (Llama, Mistral, Qwen2, GPT-2) into a FastSNN
    hybrid spiking LM, reusing its weights and its tokenizer; write the model folder --out.

    The result is ready for continued training (SpikingBrain's recipe): fastsnn train CONFIG --init OUT.
    """
    from fastsnn_convert.hf.architecture import DEFAULT_NEURON, convert_causal_lm
    from fastsnn_convert.hf.tokenizer import convert_tokenizer

    if window is not None and window < 1:
        raise FastSNNError(f"--window must be at least 1, got {window}")
    neuron_ref: Any = DEFAULT_NEURON
    if neuron:
        neuron_ref = _layout(neuron)
        get_registry().get("neuron", neuron_ref if isinstance(neuron_ref, str) else neuron_ref.get("name", ""))
    check_writable_destination(out, "model folder")
    hf_model = load_causal_lm(source)
    has_tokenizer = (source / "tokenizer.json").is_file() or (source / "tokenizer_config.json").is_file()
    tokenizer = convert_tokenizer(source) if has_tokenizer else None
    model, report = convert_causal_lm(hf_model, _layout(layout), softmax_layers=_layers(softmax_layers),
                                      window=window, spiking=spiking, neuron=neuron_ref, max_seq_len=max_seq_len)
    if tokenizer is not None and tokenizer.vocab_size > model.config.vocab_size:
        raise FastSNNError(f"{source}: the tokenizer has {tokenizer.vocab_size} ids but the model's embedding only "
                           f"{model.config.vocab_size} rows; the folder's tokenizer does not belong to its model")
    agreement = None
    if check_tokens:
        gen = torch.Generator().manual_seed(0)
        length = min(check_tokens, model.config.max_seq_len or check_tokens)
        ids = torch.randint(0, model.config.vocab_size, (1, length), generator=gen)
        agreement = prediction_agreement(hf_model, model, ids)
    metadata = {"converted_from": {"source": str(source), "architecture": report.source, "layout": report.layers,
                                   "spiking": spiking, "agreement": agreement}}
    folder = model.save_pretrained(out, metadata=metadata,
                                   tokenizer=None if tokenizer is None else tokenizer.to_dict())
    if report_format == "json":
        click.echo(json.dumps({"out": str(folder), "report": asdict(report), "agreement": agreement,
                               "tokenizer": None if tokenizer is None else tokenizer.vocab_size}, indent=2))
        return
    click.echo(report.summary())
    if agreement is not None:
        click.echo(f"against {source} on {ids.shape[1]} random ids: top-1 agreement "
                   f"{agreement['top1_agreement']:.1%}, KL {agreement['kl']:.4f} nats/token, "
                   f"max |Δlogit| {agreement['max_abs_logit_diff']:.3g}")
    click.echo(f"tokenizer: {'carried over (' + str(tokenizer.vocab_size) + ' ids)' if tokenizer else 'none in ' + str(source)}")
    click.echo(f"wrote {folder} (fastsnn generate {folder} --prompt ...; continue training with "
               f"fastsnn train CONFIG --init {folder})")
