"""Linear attention kernels: chunked vs recurrent vs naive recurrent vs naive parallel."""

from __future__ import annotations

import pytest
import torch

from fastsnn import FastSNNError
from fastsnn_attention.ops.linear import (
    LinearAttentionState,
    chunk_linear_attn,
    naive_parallel_linear_attn,
    naive_recurrent_linear_attn,
    recurrent_linear_attn,
)
from fastsnn_attention.ops.linear.chunk import exclusive_prefix_sum
from fastsnn_attention.testing import assert_close, grads, leaf

B, T, D, DV = 2, 63, 60, 36  # odd length, head dim 60, a different value dim


def inputs(heads: int = 4, kv_heads: int = 2, time: int = T, dtype: torch.dtype = torch.float32):
    return (leaf(B, heads, time, D, positive=True, dtype=dtype), leaf(B, kv_heads, time, D, positive=True, dtype=dtype),
            leaf(B, kv_heads, time, DV, dtype=dtype))


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("chunk_size", [16, 32, 64])
def test_chunked_matches_naive_forms_values_and_gradients(normalize, chunk_size):
    q, k, v = inputs()
    parallel = naive_parallel_linear_attn(q, k, v, normalize=normalize)
    recurrent, _ = naive_recurrent_linear_attn(q, k, v, normalize=normalize)
    chunked, _ = chunk_linear_attn(q, k, v, normalize=normalize, chunk_size=chunk_size)
    assert_close(recurrent, parallel)
    assert_close(chunked, parallel)
    want = grads(lambda: naive_parallel_linear_attn(q, k, v, normalize=normalize), (q, k, v))
    got = grads(lambda: chunk_linear_attn(q, k, v, normalize=normalize, chunk_size=chunk_size)[0], (q, k, v))
    for g, w in zip(got, want):
        assert_close(g, w, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("normalize", [False, True])
def test_recurrent_kernel_matches_naive_and_carries_state(normalize):
    q, k, v = inputs()
    want, want_state = naive_recurrent_linear_attn(q, k, v, normalize=normalize)
    got, state = recurrent_linear_attn(q, k, v, normalize=normalize)
    assert_close(got, want)
    assert_close(state.kv, want_state.kv)
    if normalize:
        assert_close(state.z, want_state.z)
    else:
        assert state.z is None
    g_want = grads(lambda: naive_recurrent_linear_attn(q, k, v, normalize=normalize)[0], (q, k, v))
    g_got = grads(lambda: recurrent_linear_attn(q, k, v, normalize=normalize)[0], (q, k, v))
    for g, w in zip(g_got, g_want):
        assert_close(g, w, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("split", [1, 17, 40])
def test_split_sequence_resumes_from_carried_state(normalize, split):
    q, k, v = inputs()
    full, full_state = chunk_linear_attn(q, k, v, normalize=normalize, chunk_size=16, output_final_state=True)
    first, state = chunk_linear_attn(q[:, :, :split], k[:, :, :split], v[:, :, :split], normalize=normalize,
                                     chunk_size=16, output_final_state=True)
    second, end_state = chunk_linear_attn(q[:, :, split:], k[:, :, split:], v[:, :, split:], normalize=normalize,
                                          chunk_size=32, initial_state=state, output_final_state=True)
    assert_close(torch.cat([first, second], dim=2), full)
    assert_close(end_state.kv, full_state.kv)
    # the recurrent (decoding) form continues the same state
    step, _ = recurrent_linear_attn(q[:, :, split:split + 1], k[:, :, split:split + 1], v[:, :, split:split + 1],
                                    normalize=normalize, initial_state=state)
    assert_close(step, full[:, :, split:split + 1])


def test_naive_recurrent_accepts_an_initial_state():
    q, k, v = inputs(time=20)
    full, _ = naive_recurrent_linear_attn(q, k, v, normalize=True)
    _, state = chunk_linear_attn(q[:, :, :9], k[:, :, :9], v[:, :, :9], normalize=True, output_final_state=True)
    rest, _ = naive_recurrent_linear_attn(q[:, :, 9:], k[:, :, 9:], v[:, :, 9:], normalize=True, initial_state=state)
    assert_close(rest, full[:, :, 9:])


def test_state_size_does_not_depend_on_sequence_length():
    short = chunk_linear_attn(*inputs(time=5), normalize=True, output_final_state=True)[1]
    long = chunk_linear_attn(*inputs(time=200), normalize=True, output_final_state=True)[1]
    assert short.kv.shape == long.kv.shape == (B, 2, D, DV)
    assert short.z.shape == long.z.shape == (B, 2, D)


def test_bf16_inputs_keep_fp32_states_and_match_fp32_reference():
    q, k, v = inputs(dtype=torch.bfloat16)
    out, state = chunk_linear_attn(q, k, v, normalize=True, chunk_size=16, output_final_state=True)
    assert out.dtype == torch.bfloat16
    assert state.kv.dtype == state.z.dtype == torch.float32
    want = naive_parallel_linear_attn(q.float(), k.float(), v.float(), normalize=True)
    assert_close(out, want, rtol=2e-2, atol=2e-2)
    step, step_state = recurrent_linear_attn(q[:, :, :3], k[:, :, :3], v[:, :, :3], normalize=True)
    assert step.dtype == torch.bfloat16 and step_state.kv.dtype == torch.float32


def test_normalised_output_is_a_convex_combination_of_values():
    """With non-negative features the z-normalised output is a weighted mean of the values seen."""
    q, k, v = inputs()
    out, _ = chunk_linear_attn(q, k, v, normalize=True, chunk_size=16)
    v_rep = v.repeat_interleave(2, dim=1)
    seen_max = v_rep.cummax(dim=2).values
    seen_min = v_rep.cummin(dim=2).values
    assert (out <= seen_max + 1e-4).all() and (out >= seen_min - 1e-4).all()


def test_bad_inputs_are_reported():
    q, k, v = inputs()
    with pytest.raises(FastSNNError, match="chunk_size must be positive"):
        chunk_linear_attn(q, k, v, chunk_size=0)
    with pytest.raises(FastSNNError, match="do not divide"):
        chunk_linear_attn(q[:, :3], k, v)
    with pytest.raises(FastSNNError, match="4-D"):
        chunk_linear_attn(q[0], k, v)
    with pytest.raises(FastSNNError, match="needs an initial_state with a key sum"):
        chunk_linear_attn(q, k, v, normalize=True, initial_state=LinearAttentionState(torch.zeros(B, 2, D, DV)))


@pytest.mark.parametrize("dim", [0, 1, 2])
@pytest.mark.parametrize("with_initial", [False, True])
def test_exclusive_prefix_sum_matches_cumsum_and_passes_gradcheck(dim, with_initial):
    x = torch.randn(3, 5, 4, dtype=torch.float64, requires_grad=True)
    initial = torch.randn(x.select(dim, 0).shape, dtype=torch.float64, requires_grad=True) if with_initial else None
    want = x.cumsum(dim) - x + (initial.unsqueeze(dim) if with_initial else 0)
    assert_close(exclusive_prefix_sum(x, dim, initial), want, rtol=1e-12, atol=1e-12)
    inputs = (x, initial) if with_initial else (x,)
    assert torch.autograd.gradcheck(lambda *a: exclusive_prefix_sum(a[0], dim, a[1] if with_initial else None), inputs)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize(("heads", "kv_heads", "time", "chunk_size"), [(2, 2, 7, 3), (4, 2, 9, 4), (3, 1, 5, 8),
                                                                       (4, 2, 70, 8)])
def test_backward_with_states_in_and_out_matches_the_reference(normalize, heads, kv_heads, time, chunk_size):
    """The chunked kernel's backward is written out (it computes in fp32, so no float64 gradcheck):
    gradients of q, k, v, the initial state (kv and z) and through the final state against autograd
    of the token-by-token reference, with grouped heads, padding (T not a multiple of C), a single
    chunk and many chunks."""
    q, k, v = (leaf(2, heads, time, 12, positive=True), leaf(2, kv_heads, time, 12, positive=True),
               leaf(2, kv_heads, time, 5))
    kv0, z0 = leaf(2, kv_heads, 12, 5), leaf(2, kv_heads, 12, positive=True)

    def outputs(kernel):
        def run():
            state = LinearAttentionState(kv0, z0 if normalize else None)
            if kernel == "chunked":
                o, final = chunk_linear_attn(q, k, v, normalize=normalize, chunk_size=chunk_size, initial_state=state,
                                             output_final_state=True)
            else:
                o, final = naive_recurrent_linear_attn(q, k, v, normalize=normalize, initial_state=state)
            parts = [o.flatten(), final.kv.flatten()] + ([final.z.flatten()] if normalize else [])
            return torch.cat(parts)
        return run

    assert_close(outputs("chunked")(), outputs("naive")())
    inputs_ = (q, k, v, kv0) + ((z0,) if normalize else ())
    for got, want in zip(grads(outputs("chunked"), inputs_), grads(outputs("naive"), inputs_), strict=True):
        assert_close(got, want, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize(("block_rows", "scan_segment"), [(8, 2), (48, 3), (10_000, 1), (16, 64)])
def test_blocks_and_scan_segments_do_not_change_the_result(monkeypatch, normalize, block_rows, scan_segment):
    """Small blocks (one head's chunks split over blocks, or several whole heads per block) and short
    scan segments take the code paths long sequences take; values and gradients stay the reference's."""
    from fastsnn_attention.ops.linear import chunk as chunk_module

    monkeypatch.setattr(chunk_module, "BLOCK_ROWS", block_rows)
    monkeypatch.setattr(chunk_module, "SCAN_SEGMENT", scan_segment)
    q, k, v = inputs(time=45)
    kv0, z0 = leaf(B, 2, D, DV), leaf(B, 2, D, positive=True)
    state = LinearAttentionState(kv0, z0 if normalize else None)

    def chunked():
        o, final = chunk_linear_attn(q, k, v, normalize=normalize, chunk_size=4, initial_state=state,
                                     output_final_state=True)
        return torch.cat([o.flatten(), final.kv.flatten()])

    def reference():
        o, final = naive_recurrent_linear_attn(q, k, v, normalize=normalize, initial_state=state)
        return torch.cat([o.flatten(), final.kv.flatten()])

    assert_close(chunked(), reference())
    for got, want in zip(grads(chunked, (q, k, v, kv0)), grads(reference, (q, k, v, kv0)), strict=True):
        assert_close(got, want, rtol=1e-3, atol=1e-4)


def test_block_plan_covers_every_chunk_once_with_contiguous_slices(monkeypatch):
    from fastsnn_attention.ops.linear import chunk as chunk_module

    monkeypatch.setattr(chunk_module, "BLOCK_ROWS", 256)
    assert chunk_module._blocks(heads=4, n_chunks=2, rows=64) == [(0, 2, 0, 2), (2, 4, 0, 2)]  # whole heads
    assert chunk_module._blocks(heads=2, n_chunks=5, rows=64) == [  # runs of chunks of one head
        (0, 1, 0, 4), (0, 1, 4, 5), (1, 2, 0, 4), (1, 2, 4, 5)]


def test_activation_checkpointing_recomputes_the_kernel_with_the_same_gradients():
    """Everything the backward needs goes through save_for_backward, unpacked once, so
    torch.utils.checkpoint can drop it and recompute it."""
    from torch.utils.checkpoint import checkpoint

    q, k, v = inputs()
    plain = grads(lambda: chunk_linear_attn(q, k, v, normalize=True, chunk_size=16)[0], (q, k, v))
    again = grads(lambda: checkpoint(lambda a, b, c: chunk_linear_attn(a, b, c, normalize=True, chunk_size=16)[0],
                                     q, k, v, use_reentrant=False), (q, k, v))
    for got, want in zip(again, plain, strict=True):
        assert_close(got, want, rtol=0, atol=0)
