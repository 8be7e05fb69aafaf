"""``fastsnn demo``: the whole pipeline in under a minute on a laptop CPU.

1. forward pass of a hybrid (linear + sliding-window) spiking language model,
2. a 10-step training run printing the loss,
3. an ANN→SNN conversion with matching shapes, and the count → event expansion,
4. a few tokens decoded from the O(1) cache.
"""

from __future__ import annotations

import time
from typing import Iterator

import click
import torch


def counting_batches(vocab: int, batch: int, seq: int, steps: int, seed: int = 0) -> Iterator[torch.Tensor]:
    """Sequences ``s, s+stride, s+2·stride, …`` (mod vocab): learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        start = torch.randint(0, vocab, (batch, 1), generator=g)
        stride = torch.randint(1, 4, (batch, 1), generator=g)
        yield (start + stride * torch.arange(seq)) % vocab


@click.command()
@click.option("--steps", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Training steps.")
@click.option("--attention", default="hybrid_alt", show_default=True, help="Attention kernel or layout name.")
@click.option("--seed", default=0, show_default=True, type=int)
def demo(steps: int, attention: str, seed: int) -> None:
    """Run the end-to-end demo: spiking LM forward, training, ANN→SNN conversion, decoding."""
    from fastsnn.builder.config import SNNConfig
    from fastsnn.builder.model_from_config import build_model_from_config
    from fastsnn.convert.ann2snn import TinyANN, convert_ann_to_snn
    from fastsnn.train.trainer import TrainConfig, Trainer

    torch.manual_seed(seed)
    t0 = time.perf_counter()
    click.secho("[1/4] spiking language model — forward pass", bold=True)
    cfg = SNNConfig(vocab_size=256, d_model=128, n_heads=4, n_layers=4, d_ff=256, attn_kind=attention)
    model = build_model_from_config(cfg)
    layers = ", ".join(ref.name for ref in model.layer_attention)
    n_params = sum(p.numel() for p in model.parameters())
    click.echo(f"  layers: {layers}  ({n_params / 1e6:.2f}M parameters)")
    x = next(counting_batches(256, 2, 65, 1, seed))
    logits = model(x[:, :-1])
    click.echo(f"  input {tuple(x[:, :-1].shape)} -> logits {tuple(logits.shape)}")
    neuron = model.blocks[0].ffn.neuron
    seen = []
    handle = neuron.register_forward_pre_hook(lambda _module, args: seen.append(args[0].detach()))
    with torch.no_grad():
        model(x[:, :-1])
    handle.remove()
    spikes = neuron.spikes(seen[0])
    click.echo(f"  layer-0 FFN neuron: firing rate {spikes.firing_rate:.3f} spikes/neuron, "
               f"sparsity {spikes.sparsity:.1%}, max |count| {int(spikes.counts.abs().max())}")

    click.secho(f"[2/4] training {steps} steps (AdamW) on a counting task", bold=True)
    trainer = Trainer(model, TrainConfig(max_steps=steps, log_every=1, lr=3e-3, warmup_steps=0))
    history = trainer.fit(counting_batches(256, 8, 65, steps, seed + 1))
    losses = [h["loss"] for h in history] if history and isinstance(history[0], dict) else list(history or [])
    if losses:
        click.echo(f"  loss {losses[0]:.3f} -> {losses[-1]:.3f}")

    click.secho("[3/4] ANN -> SNN conversion", bold=True)
    ann = TinyANN(in_dim=128, hidden=256, out_dim=10)
    snn = convert_ann_to_snn(ann, d_model_fallback=128)
    sample = torch.randn(4, 16, 128)
    y_ann, y_snn = ann(sample), snn(sample)
    click.echo(f"  ANN {tuple(sample.shape)} -> {tuple(y_ann.shape)};  SNN {tuple(sample.shape)} -> {tuple(y_snn.shape)}"
               f"  shapes match: {y_ann.shape == y_snn.shape}")
    neuron = next(m for m in snn.modules() if hasattr(m, "spikes") and m is not snn)
    counts = neuron.spikes(torch.randn(4, 256))
    events = counts.to_events("bitwise")
    exact = torch.equal(events.to_count().counts.to(torch.int64), counts.counts.detach().round().to(torch.int64))
    click.echo(f"  counts -> bitwise events: {events.num_steps} time steps, round trip exact: {exact}")

    click.secho("[4/4] decoding from the cache", bold=True)
    model.eval()
    prompt = torch.tensor([[10, 12, 14, 16, 18]])
    out = model.generate(prompt, max_new_tokens=8, temperature=0.0)
    cache_bytes = model.init_cache(1).nbytes()
    click.echo(f"  prompt {prompt[0].tolist()} -> {out[0, prompt.shape[1]:].tolist()}")
    click.echo(f"  decoding cache: {cache_bytes / 1024:.1f} KiB per sequence")
    click.secho(f"done in {time.perf_counter() - t0:.1f}s", fg="green")
