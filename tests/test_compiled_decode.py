"""Cross-package: the compiled single-token decode step (``model.decode(compile=True)``,
``fastsnn generate --compile``) against the eager forward, its reference — same logits up to float
reassociation, same greedy tokens — for spiking models with every cache kind (GLA and linear state,
the SWA ring before and after it fills, a softmax KV cache), and its errors.

Each test compiles (Inductor's CPU backend, a C++ compiler at run time: skipped without one), so
the models are tiny and the tests few.
"""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import pytest
import torch

import fastsnn_attention.plugin
import fastsnn_neurons.plugin
from fastsnn import FastSNNError
from fastsnn.config import ModelConfig
from fastsnn.model import build_model, compiled_decode
from fastsnn.testing import use_plugins

pytestmark = pytest.mark.skipif(compiled_decode.compiler_problem() is not None,
                                reason=str(compiled_decode.compiler_problem()))

FLAGSHIP_SHAPE = dict(vocab_size=61, d_model=32, n_layers=4, n_heads=2, d_ff=48,
                      attention={"name": "hybrid_alt", "linear": "gla", "swa": {"name": "swa", "window": 5}},
                      ffn={"name": "swiglu", "spiking": True},
                      neuron={"name": "adaptive_threshold", "k": 3.0, "signed": True})


@pytest.fixture(autouse=True)
def _plugins():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with use_plugins(fastsnn_neurons.plugin, fastsnn_attention.plugin):
        yield
    torch.set_num_threads(previous)


def step_both(model, prompt_len: int, steps: int, threads: int | None = None) -> tuple[float, list[int], list[int]]:
    """Prefill two caches alike, then feed each its own greedy token for ``steps`` steps: eager on
    one, compiled on the other. Returns the largest logit difference and both token streams."""
    prompt = torch.randint(0, model.config.vocab_size, (1, prompt_len), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        eager_cache, compiled_cache = model.init_cache(1), model.init_cache(1)
        last = model.prefill(prompt, eager_cache)[:, -1]
        model.prefill(prompt, compiled_cache)
        decoder = model.compiled_decoder(threads)
        eager_token = compiled_token = last.argmax(-1, keepdim=True)
        worst, eager_tokens, compiled_tokens = 0.0, [], []
        for _ in range(steps):
            eager_logits = model(eager_token, cache=eager_cache)[:, -1]
            compiled_logits = decoder(compiled_token, compiled_cache)[:, -1]
            worst = max(worst, float((eager_logits - compiled_logits).abs().max()))
            eager_token, compiled_token = eager_logits.argmax(-1, keepdim=True), compiled_logits.argmax(-1, keepdim=True)
            eager_tokens.append(int(eager_token))
            compiled_tokens.append(int(compiled_token))
    assert eager_cache.seen == compiled_cache.seen == prompt_len + steps
    return worst, eager_tokens, compiled_tokens


def test_compiled_step_matches_eager_across_the_swa_ring_filling_up():
    # prompt 3 < window 5: the first steps read a partly filled ring, the later ones a full one that wraps
    model = build_model(ModelConfig(**FLAGSHIP_SHAPE), seed=0).eval().layout_for_decoding(compiled=True)
    worst, eager_tokens, compiled_tokens = step_both(model, prompt_len=3, steps=9, threads=2)  # OpenMP kernels
    assert worst < 1e-4 and eager_tokens == compiled_tokens
    assert model.compiled_decoder().threads == 2  # kept: no count asked for
    assert model.compiled_decoder(threads=1) is not model.compiled_decoder(threads=2)


def test_generate_with_compile_gives_the_eager_tokens_for_softmax_and_linear_layers():
    model = build_model(ModelConfig(vocab_size=53, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_seq_len=64,
                                    attention=["linear", {"name": "softmax", "n_kv_heads": 1}]), seed=1).eval()
    prompt = torch.tensor([[4, 8, 15, 16, 23, 42]])
    eager = model.generate(prompt, 12, temperature=0)
    compiled = model.generate(prompt, 12, temperature=0, compile=True)
    assert torch.equal(eager, compiled)
    assert model.compiled_decoder().calls == 11  # the last token is sampled, not fed back


def test_compiled_step_matches_eager_for_a_w8aspike_model_with_an_int8_cache():
    from fastsnn.quantize import quantize_model

    model = build_model(ModelConfig(**{**FLAGSHIP_SHAPE, "n_layers": 2}), seed=2).eval()
    quantize_model(model, "w8", kv_cache="int8")  # int8 weights (Int8Linear) and an int8 SWA ring
    worst, eager_tokens, compiled_tokens = step_both(model, prompt_len=4, steps=6)
    assert worst < 1e-4 and eager_tokens == compiled_tokens


def test_a_model_with_a_compiled_decoder_still_pickles_and_copies():
    model = build_model(ModelConfig(**{**FLAGSHIP_SHAPE, "n_layers": 2}), seed=0).eval()
    model.generate(torch.tensor([[1, 2, 3]]), 3, temperature=0, compile=True)
    assert "_compiled_decoder" in model.__dict__
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert "_compiled_decoder" not in clone.__dict__
        assert torch.equal(clone.generate(torch.tensor([[1, 2, 3]]), 4, temperature=0),
                           model.generate(torch.tensor([[1, 2, 3]]), 4, temperature=0))


def test_a_compiled_decoder_pickles_and_copies_with_its_model_and_compiles_anew():
    model = build_model(ModelConfig(**{**FLAGSHIP_SHAPE, "n_layers": 1}), seed=6).eval()
    decoder = model.compiled_decoder(threads=1)
    prompt = torch.tensor([[5, 9, 2]])
    with torch.no_grad():
        cache = model.init_cache(1)
        token = model.prefill(prompt, cache)[:, -1:].argmax(-1)
        expected = decoder(token, cache)
        for clone in (pickle.loads(pickle.dumps(decoder)), copy.deepcopy(decoder)):
            assert clone.threads == 1 and clone.calls == 1 and not clone._steps and clone.model is not model
            clone_cache = clone.model.init_cache(1)
            clone.model.prefill(prompt, clone_cache)
            torch.testing.assert_close(clone(token, clone_cache), expected, rtol=1e-5, atol=1e-5)


def test_compiled_decoder_errors(monkeypatch):
    model = build_model(ModelConfig(**{**FLAGSHIP_SHAPE, "n_layers": 2}), seed=0).eval()
    cache = model.init_cache(1)
    model.prefill(torch.tensor([[1, 2]]), cache)
    decoder = model.compiled_decoder()
    with pytest.raises(FastSNNError, match="one token per sequence"):
        decoder(torch.tensor([[1, 2]]), cache)
    with pytest.raises(FastSNNError, match="out of range"):
        decoder(torch.tensor([[999]]), cache)
    with pytest.raises(FastSNNError, match="batch size 1 but input has batch size 2"):
        decoder(torch.tensor([[1], [2]]), cache)
    with pytest.raises(FastSNNError, match="another model"):
        decoder(torch.tensor([[1]]), build_model(ModelConfig(**{**FLAGSHIP_SHAPE, "n_layers": 2}), seed=0).init_cache(1))
    assert cache.seen == 2  # refused before any work
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    with pytest.raises(FastSNNError, match=r"position 2 produced NaN or inf logits"):
        decoder(torch.tensor([[1]]), cache)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(FastSNNError, match="threads must be a positive whole number"):
            compiled_decode.CompiledDecoder(model, threads=bad)
    monkeypatch.setattr(compiled_decode.shutil, "which", lambda name: None)
    with pytest.raises(FastSNNError, match="needs a C\\+\\+ compiler"):
        compiled_decode.CompiledDecoder(model)


def test_default_threads_follow_the_wait_policy_and_the_batch(monkeypatch):
    torch.set_num_threads(2)  # the fixture restores the count
    big = compiled_decode.ALL_THREADS_FROM_BATCH
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    assert compiled_decode.default_threads() == compiled_decode.default_threads(big - 1) == 1
    assert compiled_decode.default_threads(big) == compiled_decode.default_threads(4 * big) == 2
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert compiled_decode.default_threads() == compiled_decode.default_threads(big) == 2
    for bad in (0, -3, True, 2.0, None):
        with pytest.raises(FastSNNError, match="batch must be a positive whole number"):
            compiled_decode.default_threads(bad)


def test_a_large_batch_decodes_on_all_threads_and_matches_eager(monkeypatch):
    # PASSIVE: one kernel thread for a single sequence, all of torch's from ALL_THREADS_FROM_BATCH on
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    torch.set_num_threads(2)
    batch = compiled_decode.ALL_THREADS_FROM_BATCH
    # no neuron: a spike count on a rounding boundary may round the other way in a reassociated sum
    model = build_model(ModelConfig(**{**FLAGSHIP_SHAPE, "n_layers": 2, "neuron": "none"}), seed=4).eval()
    decoder = model.compiled_decoder()
    assert decoder.threads is None and decoder.threads_for(1) == 1 and decoder.threads_for(batch) == 2
    prompt = torch.randint(0, model.config.vocab_size, (batch, 7), generator=torch.Generator().manual_seed(5))
    eager_cache, compiled_cache = model.init_cache(batch), model.init_cache(batch)
    with torch.no_grad():
        token = model.prefill(prompt, eager_cache)[:, -1:].argmax(-1)  # window 5 < 7: the ring has wrapped
        model.prefill(prompt, compiled_cache)
        for _ in range(3):
            eager, compiled = model(token, cache=eager_cache), decoder(token, compiled_cache)
            torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-4)
            token = eager.argmax(-1)
    assert set(decoder._steps) == {2} and compiled_cache.seen == eager_cache.seen == 10


def test_gemv_decompositions_are_the_products_they_replace():
    a, b, bias = torch.randn(1, 37), torch.randn(37, 11), torch.randn(11)
    torch.testing.assert_close(compiled_decode._gemv_mm(a, b), a @ b)
    torch.testing.assert_close(compiled_decode._gemv_addmm(bias, a, b, beta=0.5, alpha=2.0), 0.5 * bias + 2.0 * (a @ b))
    assert compiled_decode._gemv_mm(torch.randn(3, 37), b) is NotImplemented  # a GEMM stays a GEMM
    assert compiled_decode._gemv_mm(a, b, out_dtype=torch.float64) is NotImplemented
    table = compiled_decode.gemv_decompositions()
    assert table[torch.ops.aten.mm.default] is compiled_decode._gemv_mm


def test_generate_compile_flag_on_the_command_line(tmp_path):
    from fastsnn.data.text import CharTokenizer

    model = build_model(ModelConfig(**{**FLAGSHIP_SHAPE, "vocab_size": 256, "n_layers": 2}), seed=0)
    model.save_pretrained(tmp_path / "m", tokenizer=CharTokenizer.bytes().to_dict())
    outputs = []
    for extra in ([], ["--compile"]):
        done = subprocess.run([sys.executable, "-m", "fastsnn", "generate", str(tmp_path / "m"), "--prompt", "ROMEO:",
                               "--max-new-tokens", "8", "--temperature", "0", *extra],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and outputs[0].startswith("ROMEO:")
