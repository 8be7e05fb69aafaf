"""Trainer: fitting, schedule, clipping, logging, evaluation, checkpoints and exact resume."""

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
from fastsnn.data import RandomWindows
from fastsnn.model import build_model
from fastsnn.testing import use_plugins
from fastsnn.train import PrintLogger, lr_at
from fastsnn.train.trainer import TrainConfig, Trainer
from toy_plugins import make_plugin

VOCAB = 32


class TinyLM(nn.Module):
    """Embedding → dropout → causal running mean → head: just enough to learn bigrams."""

    def __init__(self, vocab: int = VOCAB, width: int = 16, dropout: float = 0.1, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab, width)
        self.drop = nn.Dropout(dropout)
        self.mix = nn.Linear(width, width)
        self.head = nn.Linear(width, vocab)

    def forward(self, ids):  # (B, T) → (B, T, vocab)
        x = self.drop(self.embed(ids))
        steps = torch.arange(1, ids.shape[1] + 1).view(1, -1, 1)
        return self.head(x + self.mix(x.cumsum(1) / steps))


def synthetic_data(num_batches=20, batch=4, seq=16, vocab=VOCAB, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(num_batches):
        yield torch.randint(0, vocab, (batch, seq), generator=g)


def counting_data(num_batches=40, batch=8, seq=24, vocab=VOCAB, seed=0):
    """Sequences s, s+1, s+2, … (mod vocab): the next token is easy to learn."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(num_batches):
        start = torch.randint(0, vocab, (batch, 1), generator=g)
        yield (start + torch.arange(seq)) % vocab


def quiet(model, **config):
    return Trainer(model, TrainConfig(**config), callbacks=[])


# -- fitting and logging --------------------------------------------------------------------
def test_seed_api_logs_every_n_steps_and_returns_history(capsys):
    trainer = Trainer(TinyLM(), TrainConfig(max_steps=10, log_every=2, lr=1e-3))
    history = trainer.fit(synthetic_data())
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5
    for n, line in zip((2, 4, 6, 8, 10), lines):
        assert line.startswith(f"step {n} | loss ")
        parts = line.split(" | ")
        assert [p.split()[0] for p in parts] == ["step", "loss", "lr", "tok/s"]
        assert float(parts[1].split()[1]) > 0 and float(parts[3].split()[1]) > 0
    assert [h["step"] for h in history] == list(range(1, 11))
    assert all(h["tokens"] == 4 * 15 for h in history)
    assert trainer.step == 10


def test_logged_loss_is_the_mean_since_the_last_log():
    records = []
    trainer = Trainer(TinyLM(), TrainConfig(max_steps=6, log_every=3), callbacks=[records.append])
    history = trainer.fit(synthetic_data())
    assert [r["step"] for r in records] == [3, 6]
    assert records[0]["loss"] == pytest.approx(sum(h["loss"] for h in history[:3]) / 3)


def test_loss_decreases_on_a_learnable_task_with_a_spiking_lm():
    with use_plugins(make_plugin()):
        model = build_model(ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=2,
                                        attention="cummean", neuron="half"))
        trainer = quiet(model, max_steps=40, lr=3e-3, warmup_steps=4)
        before = trainer.evaluate(counting_data(4, seed=99))["loss"]
        history = trainer.fit(counting_data(40))
        after = trainer.evaluate(counting_data(4, seed=99))["loss"]
    assert after < before - 0.5
    assert sum(h["loss"] for h in history[-5:]) / 5 < history[0]["loss"]


def test_learning_rate_follows_warmup_then_cosine():
    cfg = TrainConfig(max_steps=12, lr=1.0, warmup_steps=4, min_lr_ratio=0.1)
    assert [lr_at(s, cfg) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(4, cfg) == pytest.approx(1.0)
    assert lr_at(8, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(12, cfg) == pytest.approx(0.1) and lr_at(50, cfg) == pytest.approx(0.1)
    values = [lr_at(s, cfg) for s in range(4, 12)]
    assert values == sorted(values, reverse=True)
    history = quiet(TinyLM(), max_steps=12, lr=1e-2, warmup_steps=4).fit(synthetic_data())
    assert [h["lr"] for h in history] == [lr_at(s, TrainConfig(max_steps=12, lr=1e-2, warmup_steps=4))
                                          for s in range(12)]


def test_gradients_are_clipped_before_each_step():
    trainer = quiet(TinyLM(), max_steps=3, lr=1e-3, grad_clip=0.01)
    norms = []

    def record_norm(optimizer, *_):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    trainer.optimizer.register_step_pre_hook(record_norm)
    history = trainer.fit(synthetic_data())
    assert all(h["grad_norm"] > 0.01 for h in history), "the raw norm is recorded"
    assert all(n <= 0.01 * (1 + 1e-4) for n in norms)


def test_weight_decay_skips_biases_gains_and_embeddings():
    model = TinyLM()
    trainer = quiet(model, max_steps=1, weight_decay=0.1)
    decay, no_decay = trainer.optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(model.mix.weight), id(model.head.weight)}
    assert {id(p) for p in no_decay["params"]} == {id(model.embed.weight), id(model.mix.bias), id(model.head.bias)}


def test_a_tied_embedding_is_not_decayed_and_appears_once():
    model = TinyLM()
    model.head.weight = model.embed.weight  # tied, as SpikingLM's default
    decay, no_decay = quiet(model, max_steps=1, weight_decay=0.1).optimizer.param_groups
    assert [id(p) for p in decay["params"]] == [id(model.mix.weight)]
    assert [id(p) for p in no_decay["params"]].count(id(model.embed.weight)) == 1


def test_data_running_out_is_reported_and_training_stops(capsys):
    trainer = Trainer(TinyLM(), TrainConfig(max_steps=10, log_every=100))
    history = trainer.fit(synthetic_data(num_batches=3))
    assert len(history) == 3
    assert "ran out after 3 of 10 steps" in capsys.readouterr().out


def test_a_second_fit_continues_on_new_data_without_skipping():
    trainer = quiet(TinyLM(), max_steps=10)
    trainer.fit(synthetic_data(num_batches=3))
    seen = []
    data = list(synthetic_data(num_batches=3, seed=5))
    trainer.model.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    history = trainer.fit(data)
    assert [h["step"] for h in history] == [1, 2, 3, 4, 5, 6]
    assert torch.equal(seen[0], data[0][:, :-1]), "the new data starts at its first batch"


def test_print_logger_can_write_to_a_stream():
    stream = io.StringIO()
    Trainer(TinyLM(), TrainConfig(max_steps=2, log_every=1), callbacks=[PrintLogger(stream)]).fit(synthetic_data())
    assert stream.getvalue().count("step ") == 2


# -- evaluation --------------------------------------------------------------------------------
def test_evaluate_is_token_weighted_and_restores_train_mode():
    model = TinyLM(dropout=0.0)
    trainer = quiet(model, max_steps=1)
    batches = [torch.randint(0, VOCAB, (2, 9)), torch.randint(0, VOCAB, (3, 5))]
    result = trainer.evaluate(batches)
    with torch.no_grad():
        logits = [model(b[:, :-1]) for b in batches]
    losses = [nn.functional.cross_entropy(lg.reshape(-1, VOCAB), b[:, 1:].reshape(-1), reduction="sum")
              for lg, b in zip(logits, batches)]
    expected = float(sum(losses)) / (2 * 8 + 3 * 4)
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    assert result["tokens"] == 28 and result["batches"] == 2
    assert model.training
    assert trainer.evaluate(iter(batches), max_batches=1)["batches"] == 1


# -- checkpoints and resume ---------------------------------------------------------------------
def run_with_checkpoints(tmp_path, data_factory, steps=8, every=4):
    trainer = quiet(TinyLM(seed=0), max_steps=steps, lr=3e-3, warmup_steps=2, checkpoint_dir=tmp_path,
                    checkpoint_every=every)
    return trainer, trainer.fit(data_factory())


def test_resume_from_a_plain_iterable_continues_exactly(tmp_path):
    _, full = run_with_checkpoints(tmp_path, lambda: synthetic_data(12))
    resumed = quiet(TinyLM(seed=1), max_steps=8, lr=3e-3, warmup_steps=2)
    history = resumed.fit(synthetic_data(12), resume_from=tmp_path / "step_00000004")
    assert [h["loss"] for h in history] == [h["loss"] for h in full]
    assert [h["lr"] for h in history] == [h["lr"] for h in full]


def test_resume_from_a_stateful_source_continues_exactly(tmp_path):
    tokens = torch.randint(0, VOCAB, (500,), generator=torch.Generator().manual_seed(3))
    _, full = run_with_checkpoints(tmp_path, lambda: RandomWindows(tokens, 4, 16, seed=5))
    resumed = quiet(TinyLM(seed=1), max_steps=8, lr=3e-3, warmup_steps=2)
    resumed.load_checkpoint(tmp_path / "step_00000004")
    source = RandomWindows(tokens, 4, 16, seed=123)  # another seed: the saved position wins
    history = resumed.fit(source)
    assert [h["loss"] for h in history] == [h["loss"] for h in full]
    assert source.drawn == 8


def test_resumed_weights_and_optimizer_equal_the_uninterrupted_run(tmp_path):
    trainer, _ = run_with_checkpoints(tmp_path, lambda: synthetic_data(12))
    resumed = quiet(TinyLM(seed=1), max_steps=8, lr=3e-3, warmup_steps=2)
    resumed.fit(synthetic_data(12), resume_from=tmp_path / "step_00000004")
    for (name, a), b in zip(trainer.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    for a, b in zip(trainer.model.parameters(), resumed.model.parameters()):
        state_a, state_b = trainer.optimizer.state[a], resumed.optimizer.state[b]
        assert set(state_a) == set(state_b) == {"step", "exp_avg", "exp_avg_sq"}
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def test_checkpoint_layout_is_safetensors_and_json(tmp_path):
    with use_plugins(make_plugin()):
        model = build_model(ModelConfig(vocab_size=VOCAB, d_model=16, n_layers=1, n_heads=2, attention="cummean",
                                        neuron="half"))
        quiet(model, max_steps=2, checkpoint_dir=tmp_path).fit(synthetic_data())
    assert (tmp_path / "latest").read_text() == "step_00000002"
    step = tmp_path / "step_00000002"
    assert sorted(p.name for p in step.iterdir()) == [
        "config.json", "model.safetensors", "trainer_state.json", "trainer_state.safetensors"
    ]
    config = json.loads((step / "config.json").read_text())
    assert config["model"]["vocab_size"] == VOCAB and config["model"]["attention"] == "cummean"
    state = json.loads((step / "trainer_state.json").read_text())
    assert state["step"] == 2 and state["train_config"]["max_steps"] == 2 and len(state["history"]) == 2
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir()), "no staging folders left behind"


def test_resume_from_the_checkpoint_directory_uses_latest(tmp_path):
    run_with_checkpoints(tmp_path, lambda: synthetic_data(12), steps=6, every=2)
    resumed = quiet(TinyLM(), max_steps=6)
    assert resumed.load_checkpoint(tmp_path).name == "step_00000006"
    assert resumed.step == 6
    assert resumed.fit(synthetic_data(12)) == resumed.history  # nothing left to do


# -- bad input -----------------------------------------------------------------------------------
def test_empty_data_is_a_clear_error():
    with pytest.raises(FastSNNError, match="the training data yielded no batches"):
        quiet(TinyLM(), max_steps=2).fit([])


@pytest.mark.parametrize(("batch", "message"), [
    (torch.full((2, 8), VOCAB), f"batch 0: token id {VOCAB} is out of range for the model's vocab_size={VOCAB}"),
    (torch.full((2, 8), -1), "batch 0: token ids must be >= 0, found -1"),
    (torch.zeros(2, 8), "must be an integer tensor, got torch.float32"),
    (torch.zeros(8, dtype=torch.long), r"must have shape \[batch, time\], got \(8,\)"),
    (torch.zeros(2, 1, dtype=torch.long), "at least 2 tokens"),
    ([[1, 2, 3]], "batches must be LongTensors of token ids"),
])
def test_bad_batches_are_clear_errors(batch, message):
    with pytest.raises(FastSNNError, match=message):
        quiet(TinyLM(), max_steps=2).fit([batch])


def test_a_bad_id_later_in_the_data_names_the_batch():
    data = [torch.zeros(2, 4, dtype=torch.long), torch.full((2, 4), 40)]
    with pytest.raises(FastSNNError, match=r"batch 1: token id 40 .*vocab_size=32"):
        quiet(TinyLM(), max_steps=5).fit(data)


def test_vocab_size_comes_from_the_model_config():
    with use_plugins(make_plugin()):
        model = build_model(ModelConfig(vocab_size=20, d_model=16, n_layers=1, n_heads=2, attention="cummean",
                                        neuron="half"))
        with pytest.raises(FastSNNError, match="vocab_size=20"):
            quiet(model, max_steps=1).fit([torch.full((1, 4), 25)])


def test_not_an_iterable_is_a_clear_error():
    with pytest.raises(FastSNNError, match=r"wrap a single batch in a list: fit\(\[ids\]\)"):
        quiet(TinyLM(), max_steps=1).fit(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(FastSNNError, match="needs an iterable"):
        quiet(TinyLM(), max_steps=1).fit(5)


def test_divergence_is_a_clear_error():
    model = TinyLM()
    with torch.no_grad():
        model.head.bias.fill_(float("nan"))
    with pytest.raises(FastSNNError, match=r"the loss is nan at step 1 \(precision fp32, lr .*\): training diverged"):
        quiet(model, max_steps=1).fit(synthetic_data())


def test_bad_configs_and_models():
    with pytest.raises(ValidationError, match="max_steps"):
        Trainer(TinyLM(), TrainConfig(max_steps=0))
    with pytest.raises(FastSNNError, match="needs a torch.nn.Module"):
        Trainer("model")
    with pytest.raises(FastSNNError, match="CUDA is not available") if not torch.cuda.is_available() else _noop():
        Trainer(TinyLM(), {"device": "cuda"}, callbacks=[])
    frozen = TinyLM().requires_grad_(False)
    with pytest.raises(FastSNNError, match="no trainable parameters"):
        Trainer(frozen)
    with pytest.raises(FastSNNError, match="no checkpoint directory"):
        quiet(TinyLM(), max_steps=1).save_checkpoint()


def _noop():
    from contextlib import nullcontext

    return nullcontext()


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FastSNNError, match=f"checkpoint {tmp_path / 'nope'} not found"):
        quiet(TinyLM(), max_steps=1).load_checkpoint(tmp_path / "nope")
    with pytest.raises(FastSNNError, match="is not a training checkpoint"):
        quiet(TinyLM(), max_steps=1).load_checkpoint(tmp_path)
    (tmp_path / "latest").write_text("step_00000009")
    with pytest.raises(FastSNNError, match="points to .*step_00000009, which is not a complete checkpoint"):
        quiet(TinyLM(), max_steps=1).load_checkpoint(tmp_path)


def test_corrupt_checkpoint_files_are_named(tmp_path):
    run_with_checkpoints(tmp_path, lambda: synthetic_data(12), steps=2, every=2)
    step = tmp_path / "step_00000002"
    weights = step / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(b"not a safetensors file")
    with pytest.raises(FastSNNError, match=f"{weights}: the weights do not match the checksum in config.json"):
        quiet(TinyLM(), max_steps=4).load_checkpoint(step)
    flipped = bytearray(good)
    flipped[-3] ^= 0x01  # one flipped data byte
    weights.write_bytes(bytes(flipped))
    with pytest.raises(FastSNNError, match="the file was modified or damaged"):
        quiet(TinyLM(), max_steps=4).load_checkpoint(step)
    weights.write_bytes(good)
    (step / "trainer_state.json").write_text('{"step": 2,\n  oops')
    with pytest.raises(FastSNNError, match=r"trainer_state.json:2: invalid JSON"):
        quiet(TinyLM(), max_steps=4).load_checkpoint(step)
    (step / "trainer_state.safetensors").unlink()
    (step / "trainer_state.json").write_text(json.dumps({"format": "fastsnn-train-state", "version": 1, "step": 2}))
    with pytest.raises(FastSNNError, match=r"trainer_state.safetensors not found"):
        quiet(TinyLM(), max_steps=4).load_checkpoint(step)


def test_mismatched_shapes_name_the_file_and_tensor_and_change_nothing(tmp_path):
    run_with_checkpoints(tmp_path, lambda: synthetic_data(12), steps=2, every=2)
    other = TinyLM(width=24)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    trainer = quiet(other, max_steps=4)
    with pytest.raises(FastSNNError, match=r"(?s)model.safetensors does not match the model.*"
                                           r"embed.weight: shape \(32, 16\) in file, model expects \(32, 24\)"):
        trainer.load_checkpoint(tmp_path)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())
    assert trainer.step == 0


def test_optimizer_state_mismatch_names_the_tensor(tmp_path):
    from safetensors.torch import load_file, save_file

    run_with_checkpoints(tmp_path, lambda: synthetic_data(12), steps=2, every=2)
    state_file = tmp_path / "step_00000002" / "trainer_state.safetensors"
    tensors = load_file(str(state_file))
    tensors["optimizer.mix.weight.exp_avg"] = torch.zeros(3, 3)
    save_file(tensors, str(state_file))
    model = TinyLM()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(FastSNNError, match=r"trainer_state.safetensors: tensor 'optimizer.mix.weight.exp_avg' has "
                                           r"shape \(3, 3\), but parameter 'mix.weight' has shape \(16, 16\)"):
        quiet(model, max_steps=4).load_checkpoint(tmp_path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "rolled back"


def test_resume_with_too_little_data_is_a_clear_error(tmp_path):
    run_with_checkpoints(tmp_path, lambda: synthetic_data(12), steps=4, every=4)
    trainer = quiet(TinyLM(), max_steps=8)
    trainer.load_checkpoint(tmp_path)
    with pytest.raises(FastSNNError, match="the checkpoint used 4 batches but the data only has 2"):
        trainer.fit(synthetic_data(2))
