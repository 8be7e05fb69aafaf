"""``fastsnn demo``: the whole pipeline in a few seconds on a laptop CPU.

1. forward pass of a hybrid (linear + sliding-window) spiking language model,
2. a short training run on a task whose result is visible: continue the alphabet
   (byte-level text, ``"abcde"`` → ``"fghijklm"``, wrapping from ``z`` to ``a``),
3. an ANN→SNN conversion with matching shapes, and the count → event expansion,
4. greedy decoding from the model's cache: every five-letter prompt, before and after training.
"""

from __future__ import annotations

import time
from typing import Iterator

import click
import torch

ALPHABET = torch.tensor(list(b"abcdefghijklmnopqrstuvwxyz"))  # byte ids 97..122
PROMPT_LEN, CONTINUATION_LEN = 5, 8


def alphabet_batches(batch: int, seq: int, steps: int, seed: int = 0) -> Iterator[torch.Tensor]:
    """``steps`` batches ``[batch, seq]`` of byte ids: the alphabet from a random letter, ``z`` → ``a``."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        start = torch.randint(0, 26, (batch, 1), generator=g)
        yield ALPHABET[(start + torch.arange(seq)) % 26]


def alphabet_prompts() -> tuple[torch.Tensor, torch.Tensor]:
    """Every five-letter run ``[26, 5]`` (``"abcde"`` … ``"zabcd"``) and its right continuation ``[26, 8]``."""
    pos = torch.arange(26)[:, None] + torch.arange(PROMPT_LEN + CONTINUATION_LEN)
    letters = ALPHABET[pos % 26]
    return letters[:, :PROMPT_LEN], letters[:, PROMPT_LEN:]


def show(ids: torch.Tensor) -> str:
    """Byte ids ``[T]`` as text in quotes; a byte that is not a printable ASCII character shows as ``·``."""
    return '"' + "".join(chr(b) if 32 <= b < 127 else "·" for b in ids.tolist()) + '"'


def continue_prompts(model, prompts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy continuations ``[26, 8]`` of ``prompts`` and which rows are entirely right ``[26]`` (bool)."""
    model.eval()
    out = model.generate(prompts, max_new_tokens=CONTINUATION_LEN, temperature=0.0)[:, PROMPT_LEN:]
    model.train()
    return out, (out == alphabet_prompts()[1]).all(dim=1)


@click.command()
@click.option("--steps", default=30, show_default=True, type=click.IntRange(1, 10_000),
              help="Training steps (30 learn the alphabet task; fewer show it half-learned).")
@click.option("--attention", default="hybrid_alt", show_default=True, help="Attention kernel or layout name.")
@click.option("--seed", default=0, show_default=True, type=int)
def demo(steps: int, attention: str, seed: int) -> None:
    """Run the end-to-end demo: spiking LM forward, training on a visible task, ANN→SNN conversion, decoding."""
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
    x = next(alphabet_batches(2, 65, 1, seed))
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

    click.secho(f"[2/4] training {steps} steps (AdamW) to continue the alphabet", bold=True)
    click.echo('  byte-level text such as "qrstuvwxyzabcdefg…"; the task: given five letters, write the next eight')
    prompts, _ = alphabet_prompts()
    before, right_before = continue_prompts(model, prompts)
    shown = show(before[0])
    note = "   (· = a byte that is not a printable character)" if "·" in shown else ""
    click.echo(f"  before training: {show(prompts[0])} -> {shown}{note}")
    trainer = Trainer(model, TrainConfig(max_steps=steps, log_every=max(1, steps // 10), lr=3e-3, warmup_steps=0))
    history = trainer.fit(alphabet_batches(8, 65, steps, seed + 1))
    losses = [h["loss"] for h in history] if history and isinstance(history[0], dict) else list(history or [])
    if losses:
        click.echo(f"  loss {losses[0]:.3f} -> {losses[-1]:.3f} nats/token (random guessing over 256 bytes: 5.545)")

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

    click.secho("[4/4] greedy decoding from the cache, after training", bold=True)
    after, right = continue_prompts(model, prompts)
    for i in (0, 10, 23):  # "abcde", "klmno", "xyzab" (wraps z -> a)
        click.echo(f"  {show(prompts[i])} -> {show(after[i])}   {'right' if right[i] else 'wrong'}")
    click.echo(f"  learned: {int(right.sum())} of 26 prompts continued right "
               f"(before training: {int(right_before.sum())} of 26)")
    cache_bytes = model.init_cache(1).nbytes()
    click.echo(f"  decoding cache: {cache_bytes / 1024:.1f} KiB per sequence")
    click.secho(f"done in {time.perf_counter() - t0:.1f}s", fg="green")
