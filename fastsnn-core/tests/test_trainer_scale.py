"""Trainer at scale: accumulation, autocast, NaN stops, spike statistics, the regulariser, periodic
evaluation, callbacks (JSONL, progress bar, TensorBoard) and activation checkpointing."""

from __future__ import annotations

import io
import json
import math

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from fastsnn import FastSNNError
from fastsnn.config import ModelConfig
from fastsnn.config.run import SpikeRegularizer
from fastsnn.model import build_model
from fastsnn.testing import use_plugins
from fastsnn.train import JSONLLogger, NonFiniteLossError, ProgressBar, SpikeMonitor, TensorBoardLogger
from fastsnn.train.checkpoints import read_checkpoint, resolve_checkpoint
from fastsnn.train.trainer import TrainConfig, Trainer, enable_activation_checkpointing
from toy_plugins import HalfNeuron, make_plugin

VOCAB = 32


class PlainLM(nn.Module):
    """Embedding → causal running mean → head, no dropout (deterministic)."""

    def __init__(self, vocab: int = VOCAB, width: int = 16, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab, width)
        self.mix = nn.Linear(width, width)
        self.head = nn.Linear(width, vocab)

    def forward(self, ids):  # (B, T) → (B, T, vocab)
        x = self.embed(ids)
        steps = torch.arange(1, ids.shape[1] + 1).view(1, -1, 1)
        return self.head(x + self.mix(x.cumsum(1) / steps))


def batches(n=6, batch=8, seq=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, VOCAB, (batch, seq), generator=g) for _ in range(n)]


def spiking_lm(**overrides):
    config = dict(vocab_size=VOCAB, d_model=16, n_layers=2, n_heads=2, d_ff=32, attention="cummean",
                  neuron="half", max_seq_len=64)
    return build_model(ModelConfig(**{**config, **overrides}), seed=0)


# -- gradient accumulation, autocast, divergence ---------------------------------------------------
def test_gradient_accumulation_equals_the_whole_batch():
    data = batches()
    whole = Trainer(PlainLM(), TrainConfig(max_steps=6, lr=1e-2), callbacks=[])
    split = Trainer(PlainLM(), TrainConfig(max_steps=6, lr=1e-2, grad_accum_steps=4), callbacks=[])
    h1, h2 = whole.fit(data), split.fit(data)
    assert [r["loss"] for r in h2] == pytest.approx([r["loss"] for r in h1], rel=1e-6)
    for (name, a), b in zip(whole.model.state_dict().items(), split.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_accumulation_that_does_not_split_the_batch_is_refused():
    with pytest.raises(ValidationError, match=r"grad_accum_steps \(3\) must divide batch_size \(8\)"):
        TrainConfig(batch_size=8, grad_accum_steps=3)
    trainer = Trainer(PlainLM(), TrainConfig(max_steps=1, batch_size=6, grad_accum_steps=3), callbacks=[])
    with pytest.raises(FastSNNError, match="a batch of 8 sequences does not split into grad_accum_steps=3"):
        trainer.fit(batches(1))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_trains_and_keeps_fp32_weights(precision):
    trainer = Trainer(PlainLM(), TrainConfig(max_steps=8, lr=1e-2, precision=precision), callbacks=[])
    history = trainer.fit(batches(8))
    assert all(math.isfinite(r["loss"]) for r in history)
    assert history[-1]["loss"] < history[0]["loss"]
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert (trainer.scaler is not None) == (precision == "fp16")


def test_unknown_precision_is_refused():
    with pytest.raises(ValidationError, match="precision"):
        TrainConfig(precision="fp8")


class PoisonedLM(PlainLM):
    """Returns NaN logits from the ``poison_at``-th training forward on."""

    def __init__(self, poison_at: int) -> None:
        super().__init__()
        self.poison_at, self.calls = poison_at, 0

    def forward(self, ids):
        logits = super().forward(ids)
        if self.training:
            self.calls += 1
            if self.calls >= self.poison_at:
                return logits * float("nan")
        return logits


def test_a_nan_loss_under_autocast_stops_and_keeps_the_last_finite_checkpoint(tmp_path):
    model = PoisonedLM(poison_at=3)
    trainer = Trainer(model, TrainConfig(max_steps=6, precision="bf16", checkpoint_dir=tmp_path, checkpoint_every=1),
                      callbacks=[])
    with pytest.raises(NonFiniteLossError, match=r"the loss is nan at step 3 \(precision bf16.*last checkpoint, "
                                                 r".*step_00000002, holds the last finite state"):
        trainer.fit(batches(6))
    assert resolve_checkpoint(tmp_path).name == "step_00000002"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("step")) == ["step_00000001",
                                                                                        "step_00000002"]
    _, meta, weights, _ = read_checkpoint(tmp_path)
    assert meta["step"] == 2 and all(bool(torch.isfinite(w).all()) for w in weights.values())


# -- spike statistics and the regulariser ---------------------------------------------------------
def test_spike_statistics_of_a_layer_are_exact():
    neuron = HalfNeuron()  # counts = round(x / 0.5)
    monitor = SpikeMonitor(neuron)
    x = torch.tensor([[0.0, 0.5, 1.0, 2.0], [0.0, 0.0, 1.0, -2.0]])  # counts [[0,1,2,4],[0,0,2,-4]]
    with monitor.record(stats=True):
        neuron(x)
    stats = monitor.take_stats()
    assert stats == {"": {"firing_rate": 13 / 8, "sparsity": 3 / 8, "silent": 1 / 4, "saturated": 2 / 4}}
    assert monitor.take_stats() == {}  # taken
    neuron(x)  # outside record(): no hook, nothing recorded
    assert monitor.stats == {} and not neuron._forward_hooks


def test_the_regulariser_penalty_is_exact_and_pushes_rates_into_the_band():
    neuron = HalfNeuron()
    reg = SpikeRegularizer(weight=2.0, min_rate=1.0, max_rate=3.0)
    monitor = SpikeMonitor(neuron, reg)
    x = torch.full((4, 8), 4.0, requires_grad=True)  # 8 spikes per value: rate 8, 5 above the band
    with monitor.record(stats=False, rates=True):
        neuron(x)
    penalty = monitor.penalty()
    assert float(penalty.detach()) == pytest.approx(2.0 * 5.0**2)
    penalty.backward()
    assert bool((x.grad > 0).all())  # descending the penalty lowers x, so the rate falls
    with monitor.record(stats=False, rates=True):
        neuron(torch.full((2, 2), 1.0))  # rate 2: inside the band
    assert float(monitor.penalty()) == 0.0


def test_regulariser_band_must_be_ordered():
    with pytest.raises(ValidationError, match=r"min_rate \(2.0\) must be below max_rate \(1.0\)"):
        SpikeRegularizer(min_rate=2.0, max_rate=1.0)


def test_training_logs_per_layer_spike_statistics_and_the_penalty():
    records = []
    with use_plugins(make_plugin()):
        model = spiking_lm(neuron={"name": "half", "threshold": 0.005})  # small hidden values still spike
        trainer = Trainer(model, TrainConfig(max_steps=4, log_every=2, lr=1e-3,
                                             spike_regularizer={"weight": 0.1, "min_rate": 0.0, "max_rate": 0.5}),
                          callbacks=[records.append])
        history = trainer.fit(batches(4))
    assert [r["step"] for r in records] == [2, 4]
    layers = records[0]["spikes"]
    assert sorted(layers) == ["blocks.0.ffn.neuron", "blocks.1.ffn.neuron"]
    for values in layers.values():
        assert set(values) == {"firing_rate", "sparsity", "silent", "saturated"}
        assert 0 <= values["sparsity"] <= 1 and values["firing_rate"] > 0
    assert records[0]["spikes_mean"]["firing_rate"] == pytest.approx(
        sum(v["firing_rate"] for v in layers.values()) / 2)
    assert all(r["spike_penalty"] > 0 for r in history)  # rates are above 0.5: the penalty is active
    assert "spikes" not in history[0]  # statistics only on the steps that log


def test_no_hook_stays_on_the_neurons_after_training():
    with use_plugins(make_plugin()):
        model = spiking_lm()
        Trainer(model, TrainConfig(max_steps=2, log_every=1, spike_regularizer={}), callbacks=[]).fit(batches(2))
    assert all(not m._forward_hooks for m in model.modules())


# -- evaluation and callbacks ------------------------------------------------------------------------
def test_evaluation_reports_bits_per_byte_from_token_lengths():
    trainer = Trainer(PlainLM(), TrainConfig(max_steps=1), callbacks=[])
    data = batches(2)
    plain = trainer.evaluate(data)
    trainer.token_bytes = torch.full((VOCAB,), 2.0)  # every token two bytes
    result = trainer.evaluate(data)
    assert result["bits_per_byte"] == pytest.approx(plain["loss"] / math.log(2) / 2, rel=1e-9)
    assert result["bytes"] == 2 * plain["tokens"]


def test_periodic_evaluation_and_the_jsonl_log(tmp_path):
    log = tmp_path / "metrics.jsonl"
    trainer = Trainer(PlainLM(), TrainConfig(max_steps=4, log_every=2, eval_every=2, eval_batches=1),
                      callbacks=[JSONLLogger(log)])
    trainer.fit(batches(4), eval_data=lambda: iter(batches(2, seed=9)))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["kind"], r["step"]) for r in lines] == [("train", 2), ("eval", 2), ("train", 4), ("eval", 4)]
    expected = Trainer(trainer.model, TrainConfig(), callbacks=[]).evaluate(batches(2, seed=9), max_batches=1)
    assert lines[-1]["val_loss"] == pytest.approx(expected["loss"])
    assert lines[-1]["val_perplexity"] == pytest.approx(math.exp(expected["loss"]))


def test_eval_every_without_eval_data_is_refused():
    with pytest.raises(FastSNNError, match="eval_every is set but fit\\(\\) got no eval_data"):
        Trainer(PlainLM(), TrainConfig(max_steps=2, eval_every=1), callbacks=[]).fit(batches(2))


def test_jsonl_log_drops_lines_after_the_resumed_step(tmp_path):
    log = tmp_path / "metrics.jsonl"
    config = TrainConfig(max_steps=6, log_every=1, checkpoint_dir=tmp_path / "ck", checkpoint_every=2)
    Trainer(PlainLM(), config, callbacks=[JSONLLogger(log)]).fit(batches(6))
    with open(log, "a") as fh:
        fh.write('{"kind": "train", "st')  # a line cut short by a kill
    resumed = Trainer(PlainLM(), config.model_copy(update={"max_steps": 6}), callbacks=[JSONLLogger(log)])
    resumed.load_checkpoint(tmp_path / "ck" / "step_00000004")
    resumed.fit(batches(6))
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines() if '"train"' in line]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_progress_bar_shows_loss_and_tokens_per_second():
    stream = io.StringIO()
    Trainer(PlainLM(), TrainConfig(max_steps=4, log_every=2), callbacks=[ProgressBar(stream, always=True)]).fit(batches(4))
    text = stream.getvalue()
    assert "4/4" in text and "loss=" in text and "tok/s=" in text
    assert "step 2 | loss" in text and "step 4 | loss" in text


class FakeWriter:
    def __init__(self):
        self.scalars, self.flushed = [], False

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, step))

    def flush(self):
        self.flushed = True


def test_tensorboard_logger_writes_scalars():
    writer = FakeWriter()
    with use_plugins(make_plugin()):
        trainer = Trainer(spiking_lm(), TrainConfig(max_steps=2, log_every=2, eval_every=2, eval_batches=1),
                          callbacks=[TensorBoardLogger("unused", writer=writer)])
        trainer.fit(batches(2), eval_data=batches(1))
    tags = {tag for tag, step in writer.scalars if step == 2}
    assert {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s", "val/loss", "val/perplexity",
            "spikes/blocks.0.ffn.neuron/firing_rate", "spikes/blocks.1.ffn.neuron/saturated"} <= tags
    assert writer.flushed


def test_tensorboard_without_the_package_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "torch.utils.tensorboard":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(FastSNNError, match=r'pip install "fastsnn-core\[tensorboard\]"'):
        TensorBoardLogger("logs")


# -- activation checkpointing ------------------------------------------------------------------------
def test_activation_checkpointing_gives_the_same_gradients():
    with use_plugins(make_plugin()):
        plain, checkpointed = spiking_lm(), spiking_lm()
        assert enable_activation_checkpointing(checkpointed) == 2
        ids = batches(1)[0]
        for model in (plain, checkpointed):
            model.train()
            nn.functional.cross_entropy(model(ids[:, :-1]).reshape(-1, VOCAB), ids[:, 1:].reshape(-1)).backward()
    assert list(plain.state_dict()) == list(checkpointed.state_dict())  # names unchanged
    for (name, a), b in zip(plain.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_activation_checkpointing_needs_blocks():
    with pytest.raises(FastSNNError, match="needs a model with a 'blocks' ModuleList .*PlainLM has none"):
        Trainer(PlainLM(), TrainConfig(activation_checkpointing=True), callbacks=[])
