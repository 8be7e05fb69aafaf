"""Spike codings: exact round trips, step counts, hand-made trains, naive references, bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fastsnn
from fastsnn import SpikeTensor
from fastsnn_neurons.events import integrate_and_fire

UNSIGNED = ["binary", "bitwise"]
SIGNED = ["ternary", "bitwise_bidirectional", "twos_complement"]
ALL = UNSIGNED + SIGNED


def expected_steps(name: str, n: int) -> int:
    """The issue's step counts, written independently of the implementation."""
    if name == "binary":
        return n
    if name == "ternary":
        return abs(n)
    if name in ("bitwise", "bitwise_bidirectional"):
        steps = 0
        while (1 << steps) - 1 < abs(n):  # smallest T with 2^T − 1 ≥ |n|, i.e. ⌈log2(|n|+1)⌉
            steps += 1
        return steps
    steps = 1  # two's complement: smallest T with −2^(T−1) ≤ n ≤ 2^(T−1) − 1
    while not -(1 << (steps - 1)) <= n <= (1 << (steps - 1)) - 1:
        steps += 1
    return steps


def naive_encode(name: str, n: int, steps: int) -> list[int]:
    """One count → its events, by definition, element by element."""
    if name == "binary":
        return [1 if t < n else 0 for t in range(steps)]
    if name == "ternary":
        sign = (n > 0) - (n < 0)
        return [sign if t < abs(n) else 0 for t in range(steps)]
    if name == "bitwise":
        return [(n >> (steps - 1 - t)) & 1 for t in range(steps)]
    if name == "bitwise_bidirectional":
        sign = (n > 0) - (n < 0)
        return [sign * ((abs(n) >> (steps - 1 - t)) & 1) for t in range(steps)]
    value = n % (1 << steps)  # two's complement bit pattern
    return [(value >> (steps - 1 - t)) & 1 for t in range(steps)]


def count_strategy(name: str, limit: int = 300):
    return st.integers(0 if name in UNSIGNED else -limit, limit)


@pytest.mark.parametrize("name", ALL)
def test_registered_with_matching_metadata(name):
    coding = fastsnn.create("coding", name)
    assert isinstance(coding, fastsnn.SpikeCoding)
    assert coding.name == name
    assert coding.signed == (name in SIGNED)


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip_and_step_count(name, data):
    counts = data.draw(st.lists(count_strategy(name), min_size=1, max_size=40))
    coding = fastsnn.create("coding", name)
    tensor = torch.tensor(counts, dtype=torch.int64)
    events = coding.encode(tensor)
    assert events.dtype == torch.int8
    assert events.shape == (max(expected_steps(name, n) for n in counts), len(counts))
    assert coding.steps_for(tensor) == events.shape[0]
    assert torch.equal(coding.decode(events), tensor)
    assert set(events.unique().tolist()) <= set(coding.alphabet)


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_single_count_steps_and_naive_reference(name, data):
    n = data.draw(count_strategy(name, 4000))
    extra = data.draw(st.integers(0, 3))
    coding = fastsnn.create("coding", name)
    steps = expected_steps(name, n)
    assert coding.steps_for(torch.tensor([n])) == steps
    events = coding.encode(torch.tensor([n]), num_steps=steps + extra)
    assert events[:, 0].tolist() == naive_encode(name, n, steps + extra)
    assert int(coding.decode(events)[0]) == n


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_integrate_and_fire_replays_the_encoding(name, data):
    """The IF neuron with soft reset, fed R = n + f (0 ≤ f < 1), emits exactly encode(n)."""
    counts = data.draw(st.lists(count_strategy(name, 200), min_size=1, max_size=20))
    fraction = data.draw(st.floats(-0.49, 0.49))
    coding = fastsnn.create("coding", name)
    tensor = torch.tensor(counts, dtype=torch.int64)
    membrane = tensor.to(torch.float64) + fraction  # V / V_th, rounds to n
    events = integrate_and_fire(membrane, 1.0, coding)
    steps = max(coding.steps_for(tensor), 1)
    assert torch.equal(events, coding.encode(tensor, num_steps=steps))


@pytest.mark.parametrize("name", ALL)
def test_odd_shapes_and_empty(name):
    coding = fastsnn.create("coding", name)
    low = 0 if name in UNSIGNED else -9
    counts = torch.randint(low, 10, (3, 5, 7))
    events = coding.encode(counts)
    assert events.shape[1:] == counts.shape
    assert torch.equal(coding.decode(events), counts)
    empty = torch.zeros(0, 4, dtype=torch.int64)
    assert coding.encode(empty).shape[1:] == (0, 4)
    assert coding.decode(coding.encode(empty)).shape == (0, 4)


def test_hand_computed_trains():
    create = fastsnn.create
    assert create("coding", "binary").encode(torch.tensor([3, 0, 1])).T.tolist() == [[1, 1, 1], [0, 0, 0], [1, 0, 0]]
    assert create("coding", "ternary").encode(torch.tensor([-2, 1])).T.tolist() == [[-1, -1], [1, 0]]
    assert create("coding", "bitwise").encode(torch.tensor([5, 2])).T.tolist() == [[1, 0, 1], [0, 1, 0]]
    assert create("coding", "bitwise_bidirectional").encode(torch.tensor([-6])).T.tolist() == [[-1, -1, 0]]
    assert create("coding", "twos_complement").encode(torch.tensor([-3, 3])).T.tolist() == [[1, 0, 1], [0, 1, 1]]
    assert create("coding", "twos_complement").encode(torch.tensor([0])).shape == (1, 1)
    assert create("coding", "bitwise").encode(torch.tensor([0])).shape == (0, 1)


@pytest.mark.parametrize("name", ALL)
def test_step_weights(name):
    coding = fastsnn.create("coding", name)
    weights = coding.step_weights(4).tolist()
    expected = {
        "binary": [1, 1, 1, 1], "ternary": [1, 1, 1, 1], "bitwise": [8, 4, 2, 1],
        "bitwise_bidirectional": [8, 4, 2, 1], "twos_complement": [-8, 4, 2, 1],
    }[name]
    assert weights == expected
    events = coding.encode(torch.tensor([1 if name in UNSIGNED else -1]), num_steps=4)
    assert float((coding.step_weights(4) * events[:, 0].double()).sum()) == coding.decode(events).item()


@pytest.mark.parametrize("name", ALL)
def test_float_counts_holding_integers_and_other_int_dtypes(name):
    coding = fastsnn.create("coding", name)
    counts = torch.tensor([0.0, 3.0, 7.0])
    assert torch.equal(coding.decode(coding.encode(counts)), counts.long())
    for dtype in (torch.int8, torch.int16, torch.int32):
        assert torch.equal(coding.decode(coding.encode(counts.to(dtype))), counts.long())
    bool_events = coding.encode(torch.tensor([1, 2])).ne(0) if name in UNSIGNED else None
    if bool_events is not None:
        assert coding.decode(bool_events).tolist() == [1, 2]
    assert coding.decode(coding.encode(counts).float()).tolist() == [0, 3, 7]


def test_large_counts_use_wide_integers():
    coding = fastsnn.create("coding", "twos_complement")
    counts = torch.tensor([-(2**40), 2**40 - 1, 123456789012])
    assert torch.equal(coding.decode(coding.encode(counts)), counts)
    assert fastsnn.create("coding", "bitwise").encode(torch.tensor([2**61])).shape[0] == 62


@pytest.mark.parametrize("name", ALL)
def test_count_that_does_not_fit_num_steps_is_an_error(name):
    coding = fastsnn.create("coding", name)
    with pytest.raises(fastsnn.FastSNNError, match=r"do not fit in num_steps=2 \(no wrap-around\)"):
        coding.encode(torch.tensor([1, 4]), num_steps=2)
    with pytest.raises(fastsnn.FastSNNError, match="non-negative int"):
        coding.encode(torch.tensor([1]), num_steps=-1)


@pytest.mark.parametrize("name", UNSIGNED)
def test_negative_counts_for_unsigned_codings(name):
    with pytest.raises(fastsnn.FastSNNError, match="carries only counts >= 0, found -1"):
        fastsnn.create("coding", name).encode(torch.tensor([2, -1]))


@pytest.mark.parametrize("name", ALL)
def test_bad_counts(name):
    coding = fastsnn.create("coding", name)
    with pytest.raises(fastsnn.FastSNNError, match="fractional"):
        coding.encode(torch.tensor([0.5]))
    with pytest.raises(fastsnn.FastSNNError, match="NaN or inf"):
        coding.encode(torch.tensor([float("nan")]))
    with pytest.raises(fastsnn.FastSNNError, match="integer or float tensor, got torch.bool"):
        coding.encode(torch.tensor([True]))
    with pytest.raises(fastsnn.FastSNNError, match="must be a torch.Tensor"):
        coding.encode([1, 2])


@pytest.mark.parametrize("name", ALL)
def test_wrong_event_dtypes_and_values(name):
    coding = fastsnn.create("coding", name)
    with pytest.raises(fastsnn.FastSNNError, match="complex"):
        coding.decode(torch.zeros(2, 3, dtype=torch.complex64))
    with pytest.raises(fastsnn.FastSNNError, match="fractional"):
        coding.decode(torch.full((2, 3), 0.5))
    with pytest.raises(fastsnn.FastSNNError, match="values in"):
        coding.decode(torch.full((2, 3), 2, dtype=torch.int8))
    with pytest.raises(fastsnn.FastSNNError, match="leading time axis"):
        coding.decode(torch.tensor(1, dtype=torch.int8))
    if name in ("binary", "bitwise", "twos_complement"):
        with pytest.raises(fastsnn.FastSNNError, match=r"values in \{0, 1\}, found range \[-1, 0\]"):
            coding.decode(torch.tensor([[-1], [0]], dtype=torch.int8))


def test_unary_codings_refuse_absurd_trains():
    with pytest.raises(fastsnn.FastSNNError, match="use the bitwise coding"):
        fastsnn.create("coding", "binary").encode(torch.tensor([10_000]))
    assert fastsnn.create("coding", "binary", max_steps=20_000).steps_for(torch.tensor([10_000])) == 10_000
    with pytest.raises(fastsnn.FastSNNError, match="exceeds 62"):
        fastsnn.create("coding", "bitwise").encode(torch.tensor([1]), num_steps=63)


def test_unknown_coding_suggests_closest():
    with pytest.raises(fastsnn.UnknownComponentError, match="did you mean 'bitwise'"):
        fastsnn.create("coding", "bitwize")
    with pytest.raises(fastsnn.UnknownComponentError, match="did you mean 'ternary'"):
        SpikeTensor.count(torch.tensor([1.0])).to_events("ternery")


@pytest.mark.parametrize("name", ALL)
def test_spike_tensor_to_events_uses_the_coding(name):
    counts = torch.tensor([[0.0, 2.0, 5.0], [1.0, 3.0, 4.0]])
    if name in SIGNED:
        counts[0, 0] = -3.0
    spikes = SpikeTensor.count(counts, scale=0.5)
    events = spikes.to_events(name)
    assert events.view == "event"
    assert events.num_steps == fastsnn.create("coding", name).steps_for(counts)
    assert torch.equal(events.counts, counts.long())
    assert torch.allclose(events.to_dense(), counts * 0.5)
    with pytest.raises(fastsnn.FastSNNError, match="do not fit"):
        spikes.to_events(name, num_steps=1)
