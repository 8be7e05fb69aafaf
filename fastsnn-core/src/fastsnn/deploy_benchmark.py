"""``fastsnn bench deploy``: one trained language model in its deployment forms, side by side.

For each variant — ``fp32``, ``bf16``, ``w8`` (W8ASpike, one scale per output channel),
``w8_g128`` (one scale per 128 input columns) and ``w8_kv8`` (W8ASpike + int8 SWA KV cache) — in
one run, with one thread count:

- validation loss (nats/token) on the text's last 10%, the windows ``fastsnn train`` reports on
  (a full forward: no cache), and the loss of its first ``cached_tokens`` tokens fed through the
  decoding cache ``cache_chunk`` tokens at a time (so an int8 KV cache counts);
- the ``.snn`` file size, and the decoding cache's bytes (all layers, and the SWA rings alone) at
  batch 1;
- decode latency (median ms per token over ``decode_tokens`` greedy steps, the variants taking
  turns at each step) after prefilling ``prefixes`` tokens of the validation text (the model is
  rebuilt with a ``max_seq_len`` that fits).
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import torch
from pydantic import Field

from fastsnn.benchmark import Benchmark, Progress, time_interleaved
from fastsnn.errors import FastSNNError
from fastsnn.params import Params

VARIANTS = ("fp32", "bf16", "w8", "w8_g128", "w8_kv8")


def validation_loss(model: torch.nn.Module, batches: list[torch.Tensor]) -> float:
    """Token-weighted mean next-token cross-entropy (computed in fp32) over ``batches`` ``[B, T]``."""
    total, tokens = 0.0, 0
    with torch.no_grad():
        for ids in batches:
            logits = model(ids[:, :-1]).float()
            total += float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten(), reduction="sum"))
            tokens += ids[:, 1:].numel()
    return total / tokens


def cached_loss(model: torch.nn.Module, ids: torch.Tensor, chunk: int) -> float:
    """Next-token cross-entropy of ``ids [1, N]`` computed through the decoding cache, ``chunk`` tokens
    at a time (each chunk's attention reads the earlier tokens from the cache, as when decoding)."""
    total = 0.0
    with torch.no_grad():
        cache = model.init_cache(1)
        for start in range(0, ids.shape[1] - 1, chunk):
            inputs = ids[:, start : min(start + chunk, ids.shape[1] - 1)]
            targets = ids[:, start + 1 : start + 1 + inputs.shape[1]]
            logits = model(inputs, cache=cache).float()
            total += float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum"))
    return total / (ids.shape[1] - 1)


def make_variant(base: torch.nn.Module, variant: str, max_seq_len: int | None = None) -> torch.nn.Module:
    """A copy of the fp32 SpikingLM ``base`` in deployment form ``variant`` (see :data:`VARIANTS`)."""
    from fastsnn.model import SpikingLM
    from fastsnn.quantize import quantize_model

    config = base.config if max_seq_len is None else base.config.model_copy(update={"max_seq_len": max_seq_len})
    model = SpikingLM(config)
    model.load_state_dict(base.state_dict())
    model.eval()
    if variant == "bf16":
        model.to(torch.bfloat16)
    elif variant == "w8":
        quantize_model(model)
    elif variant == "w8_g128":
        quantize_model(model, group_size=128)
    elif variant == "w8_kv8":
        quantize_model(model, kv_cache="int8")
    elif variant != "fp32":
        raise FastSNNError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    return model


def decode_ms_per_token(models: dict[str, torch.nn.Module], prefix: torch.Tensor, tokens: int) -> dict[str, float]:
    """Prefill ``prefix [1, P]`` into each model's cache, then decode ``tokens`` greedy tokens one at a
    time, the models taking turns at each step (so that load from other processes hits all alike):
    the median ms per token of each model."""
    state = {}

    def step(name: str) -> None:
        cache, logits = state[name]
        state[name] = (cache, models[name](logits[:, -1:].argmax(-1), cache=cache))

    with torch.no_grad():
        for name, model in models.items():
            cache = model.init_cache(1)
            state[name] = (cache, model.prefill(prefix, cache))
        seconds = time_interleaved({name: partial(step, name) for name in models}, repeats=tokens, warmup=2)
    return {name: 1000 * s for name, s in seconds.items()}


class DeployBenchmark(Benchmark):
    """A trained LM as fp32, bf16, W8ASpike (per channel, group 128) and W8ASpike + int8 KV: val loss,
    file size, cache bytes and decode ms/token at long prefixes, in one run."""

    class Params(Params):
        model: str | None = Field(None, description="the trained model: a run or model folder, or a .snn file")
        data: str = Field("examples/data/tinyshakespeare.txt", description="the text it was trained on "
                                                                            "(last 10%: validation)")
        batch_size: int = Field(16, gt=0, description="validation batch (as fastsnn train)")
        seq_len: int = Field(256, gt=1, description="validation window (as fastsnn train)")
        val_batches: int = Field(20, gt=0, description="validation batches (fastsnn train reports 20)")
        prefixes: list[int] = Field([1024, 16384], description="prompt lengths decoding is timed after")
        decode_tokens: int = Field(32, gt=0, description="decoded tokens timed per prefix (median reported)")
        cached_tokens: int = Field(2048, gt=1, description="validation tokens fed through the decoding cache")
        cache_chunk: int = Field(64, gt=0, description="tokens per step when feeding them through the cache")
        threads: int | None = Field(None, gt=0, description="torch CPU threads (default: as set)")
        variants: list[str] = Field(list(VARIANTS), description=f"any of {', '.join(VARIANTS)}")

    def run(self, progress: Progress) -> list[dict[str, Any]]:
        from fastsnn.data.text import TextDataset
        from fastsnn.loading import load_with_tokenizer
        from fastsnn.model import SpikingLM
        from fastsnn.snn_file import write_snn

        p = self.params
        if p.model is None:
            raise FastSNNError("bench deploy needs the trained model: --set model=PATH (a run or model folder, "
                               "or a .snn file)")
        unknown = [v for v in p.variants if v not in VARIANTS]
        if unknown:
            raise FastSNNError(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
        previous_threads = torch.get_num_threads()
        if p.threads:
            torch.set_num_threads(p.threads)
        try:
            base, tokenizer = load_with_tokenizer(p.model)
            if not isinstance(base, SpikingLM) or tokenizer is None:
                raise FastSNNError(f"{p.model}: bench deploy needs a SpikingLM saved with its tokenizer")
            if getattr(base, "quantization", None):
                raise FastSNNError(f"{p.model} is quantised already; give the float model")
            base = base.float()
            data = TextDataset.from_file(p.data, tokenizer=tokenizer)
            batches = [b for _, b in zip(range(p.val_batches), data.sequential_windows("val", p.batch_size, p.seq_len))]
            val = data.split("val")
            longest = max(*p.prefixes, p.cached_tokens) + p.decode_tokens + 3
            if len(val) < max(*p.prefixes, p.cached_tokens):
                raise FastSNNError(f"the validation text has {len(val):,} tokens, fewer than the prefix or cached_tokens "
                                   f"{max(*p.prefixes, p.cached_tokens):,}")
            rows: list[dict[str, Any]] = []
            long_models = {}
            with tempfile.TemporaryDirectory() as tmp:
                for variant in p.variants:
                    progress(f"deploy: {variant}: loss, file, cache")
                    model = make_variant(base, variant)
                    loss = validation_loss(model, batches)
                    file_bytes = write_snn(model, Path(tmp) / f"{variant}.snn", tokenizer=tokenizer.to_dict()).stat().st_size
                    long_models[variant] = long_model = make_variant(base, variant, max_seq_len=longest)
                    cache = long_model.init_cache(1)
                    rows.append({
                        "variant": variant,
                        "val_loss": round(loss, 4),
                        "cached_loss": round(cached_loss(long_model, val[None, : p.cached_tokens], p.cache_chunk), 4),
                        "file_bytes": file_bytes,
                        "cache_bytes": cache.nbytes(),
                        "swa_cache_bytes": sum(c.nbytes() for c in cache.layers if hasattr(c, "ring_k")),
                    })
            for prefix in p.prefixes:
                progress(f"deploy: decoding after {prefix} tokens (variants in turn)")
                timings = decode_ms_per_token(long_models, val[None, :prefix], p.decode_tokens)
                for row in rows:
                    row[f"decode_ms@{prefix}"] = round(timings[row["variant"]], 3)
            for row in rows:
                row["threads"] = torch.get_num_threads()
            reference = next((r for r in rows if r["variant"] == "fp32"), rows[0])
            for row in rows:
                row["loss_vs_fp32_%"] = round(100 * (row["val_loss"] / reference["val_loss"] - 1), 3)
                row["cached_loss_vs_fp32_%"] = round(100 * (row["cached_loss"] / reference["cached_loss"] - 1), 3)
                row["file_vs_fp32"] = round(row["file_bytes"] / reference["file_bytes"], 3)
                row["swa_cache_vs_fp32"] = round(row["swa_cache_bytes"] / max(1, reference["swa_cache_bytes"]), 3)
            return rows
        finally:
            torch.set_num_threads(previous_threads)


__all__ = ["VARIANTS", "DeployBenchmark", "decode_ms_per_token", "make_variant", "validation_loss"]
