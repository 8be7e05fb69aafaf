"""``sample_next`` and ``generate``'s sampling arguments: the exact support of top-k / top-p.

Each case samples thousands of rows at once from a seeded generator and compares the set of
tokens drawn with the set the definition allows (``sample_next``'s docstring): a token outside
it must never appear, and every token inside it must appear.
"""

from __future__ import annotations

import math

import pytest
import torch

from fastsnn import FastSNNError
from fastsnn.config import ModelConfig
from fastsnn.model import build_model
from fastsnn.model.lm import sample_next
from fastsnn.testing import use_plugins
from toy_plugins import make_plugin

DRAWS = 4000


def draws(probs, temperature=1.0, top_k=None, top_p=None, seed=0) -> torch.Tensor:
    """``DRAWS`` samples (a flat LongTensor) from logits ``log(probs)`` (float32, as a model gives them)."""
    logits = torch.tensor(probs, dtype=torch.float32).log().expand(DRAWS, -1)
    out = sample_next(logits, temperature, top_k, top_p, generator=torch.Generator().manual_seed(seed))
    assert out.shape == (DRAWS, 1) and out.dtype == torch.int64
    return out[:, 0]


def support(probs, **kwargs) -> set[int]:
    return set(draws(probs, **kwargs).tolist())


@pytest.mark.parametrize(
    ("top_p", "expected"),
    [
        (0.5, {0}),  # token 0 alone reaches 0.5: the case
        (0.25, {0}),
        (1e-9, {0}),  # the most likely token is always kept
        (0.501, {0, 1}),
        (0.75, {0, 1}),  # 0.5 + 0.25 reaches 0.75; token 2 ties token 1 but is ranked after it (higher id)
        (0.76, {0, 1, 2}),
        (1.0, {0, 1, 2}),  # top_p = 1 keeps everything
    ],
)
def test_top_p_keeps_the_smallest_prefix_reaching_top_p(top_p, expected):
    assert support([0.5, 0.25, 0.25], top_p=top_p) == expected


def test_top_p_boundary_holds_for_masses_that_round_below_top_p():
    """Masses like 0.4 + 0.3 are not exact in binary floating point (and the logits are float32): the
    cut is at the exact mass, not where rounding happens to put it."""
    assert support([0.1, 0.2, 0.3, 0.4], top_p=0.7) == {3, 2}
    assert support([0.1, 0.2, 0.3, 0.4], top_p=0.9) == {3, 2, 1}
    assert support([0.1, 0.2, 0.3, 0.4], top_p=0.3) == {3}
    assert support([1 / 3, 1 / 3, 1 / 3], top_p=2 / 3) == {0, 1}
    # softmax(log(float32([0.05, 0.25, 0.7]))) gives token 2 a mass of 0.7 - 3.5e-9, and the first two
    # of [0.05, 0.3, 0.65] sum to 0.95 - 4.5e-10: an exact comparison would add one more token
    assert support([0.05, 0.25, 0.7], top_p=0.7) == {2}
    assert support([0.05, 0.3, 0.65], top_p=0.95) == {2, 1}


def test_top_p_ties_at_the_cut_keep_the_lower_ids():
    assert support([0.2] * 5, top_p=0.4) == {0, 1}
    assert support([0.1, 0.3, 0.3, 0.3], top_p=0.5) == {1, 2}
    assert support([0.1, 0.3, 0.3, 0.3], top_p=0.3) == {1}


@pytest.mark.parametrize(
    ("top_k", "expected"),
    [(1, {1}), (2, {1, 2}), (3, {1, 2, 3}), (4, {0, 1, 2, 3}), (100, {0, 1, 2, 3})],
)
def test_top_k_keeps_exactly_k_tokens_ties_broken_towards_the_lower_id(top_k, expected):
    # tokens 1 and 2 tie for first, 3 and 0 follow: top_k=1 is greedy's choice (argmax gives the lower id)
    probs = [0.1, 0.3, 0.3, 0.2]
    assert support(probs, top_k=top_k) == expected
    assert support([0.25] * 4, top_k=top_k) == set(range(min(top_k, 4)))


def test_top_p_applies_to_the_distribution_renormalised_after_top_k():
    probs = [0.4, 0.3, 0.2, 0.1]  # top_k=2 leaves 4/7 ≈ 0.571 and 3/7
    assert support(probs, top_k=2, top_p=0.55) == {0}
    assert support(probs, top_k=2, top_p=0.58) == {0, 1}
    assert support(probs, top_k=3, top_p=1.0) == {0, 1, 2}


def test_temperature_changes_the_masses_top_p_sees_but_not_the_ranking():
    # T=2 flattens [0.5, 0.25, 0.25] to ∝ sqrt: [0.414, 0.293, 0.293], so 0.5 needs two tokens
    assert support([0.5, 0.25, 0.25], temperature=2.0, top_p=0.5) == {0, 1}
    assert support([0.5, 0.25, 0.25], temperature=0.5, top_p=0.6) == {0}  # ∝ [4, 1, 1]: 0.667
    assert support([0.1, 0.2, 0.7], temperature=math.inf, top_k=2) == {1, 2}  # uniform over the top 2


def test_a_single_token_vocabulary_always_gives_that_token():
    for kwargs in [{}, {"top_k": 1}, {"top_k": 5}, {"top_p": 0.1}, {"top_p": 1.0}, {"top_k": 3, "top_p": 0.5}]:
        assert support([1.0], **kwargs) == {0}


def test_greedy_ignores_top_k_and_top_p_and_takes_the_lowest_of_tied_ids():
    logits = torch.tensor([[0.0, 2.0, 2.0, 1.0], [3.0, 0.0, 0.0, 3.0]])
    for kwargs in [{}, {"top_k": 1}, {"top_k": 3, "top_p": 0.2}]:
        assert sample_next(logits, 0.0, kwargs.get("top_k"), kwargs.get("top_p")).tolist() == [[1], [0]]


def test_kept_tokens_are_drawn_in_proportion_to_their_probabilities():
    counts = torch.bincount(draws([0.5, 0.25, 0.125, 0.125], top_k=2), minlength=4)
    assert counts[2:].tolist() == [0, 0]
    # 0 : 1 = 2 : 1 renormalised, i.e. token 0 with p = 2/3; 6 standard deviations of a binomial
    assert abs(counts[0].item() / DRAWS - 2 / 3) < 6 * math.sqrt(2 / 9 / DRAWS)


def test_each_row_gets_its_own_set():
    logits = torch.tensor([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]]).log().repeat(DRAWS // 2, 1)
    out = sample_next(logits, 1.0, None, 0.5, generator=torch.Generator().manual_seed(1))[:, 0]
    assert set(out[0::2].tolist()) == {0} and set(out[1::2].tolist()) == {2}


def test_same_seed_same_draws():
    a = draws([0.3, 0.3, 0.2, 0.2], top_p=0.9, seed=5)
    assert torch.equal(a, draws([0.3, 0.3, 0.2, 0.2], top_p=0.9, seed=5))


@pytest.fixture
def model():
    with use_plugins(make_plugin()):
        yield build_model(ModelConfig(vocab_size=8, d_model=8, n_layers=1, n_heads=2, max_seq_len=16,
                                      attention="cummean", neuron="half"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": float("nan")}, r"temperature must be a number >= 0 \(0 is greedy\), got nan"),
        ({"temperature": -0.5}, r"temperature must be a number >= 0 \(0 is greedy\), got -0.5"),
        ({"top_p": float("nan")}, r"top_p must be in \(0, 1\], got nan"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\], got 0.0"),
        ({"top_k": 0}, r"top_k must be positive, got 0"),
    ],
)
def test_generate_rejects_bad_sampling_arguments(model, kwargs, message):
    with pytest.raises(FastSNNError, match=message):
        model.generate(torch.tensor([[1, 2]]), 3, **kwargs)


def test_generate_with_top_k_1_is_greedy(model):
    out = model.eval().generate(torch.tensor([[1, 2]]), 5, temperature=1.0, top_k=1,
                                generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, model.generate(torch.tensor([[1, 2]]), 5, temperature=0.0))  # top_k=1 is greedy


def test_cli_generate_refuses_a_nan_temperature(tmp_path):
    from click.testing import CliRunner

    from fastsnn.cli.main import cli

    (tmp_path / "t.txt").write_text("hello world. " * 100)
    (tmp_path / "r.toml").write_text('[model]\nvocab_size = 16\nd_model = 8\nn_layers = 1\nn_heads = 2\n'
                                     'max_seq_len = 32\nattention = "cummean"\nneuron = "half"\n'
                                     '[data]\ntokenizer = "char"\n[train]\nmax_steps = 1\nbatch_size = 2\nseq_len = 16\n')
    with use_plugins(make_plugin()):
        runner = CliRunner()
        trained = runner.invoke(cli, ["train", str(tmp_path / "r.toml"), "--data", str(tmp_path / "t.txt"),
                                      "--out", str(tmp_path / "run")])
        assert trained.exit_code == 0, trained.output
        result = runner.invoke(cli, ["generate", str(tmp_path / "run"), "--prompt", "he", "--temperature", "nan"])
    assert result.exit_code == 2
    assert "temperature must be a number >= 0 (0 is greedy), got nan" in result.output
