"""The modules conversion puts into a network: a spiking activation and a temporal Linear."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn import FastSNNError, SpikeTensor, SpikingNeuron
from fastsnn_convert.events import as_spikes


class SpikingActivation(nn.Module):
    """``neuron(activation(x))``: the ANN activation's output carried as integer spike counts.

    With an adaptive-threshold neuron, ``V_th = mean(|a|)/k`` per token over the last axis and
    ``y = round(a / V_th) · V_th`` where ``a = activation(x)``, so ``|y - a| ≤ V_th / 2``
    elementwise. ``activation=None`` lets the neuron alone replace the activation (for neurons
    that are themselves the non-linearity).

    The neuron is a child module (``self.neuron``), and this wrapper is deliberately *not* a
    :class:`fastsnn.SpikingNeuron` itself: whatever looks for neurons by type — event mode
    (``fastsnn_neurons.event_mode``), statistics (``collect_stats``) — finds the real neuron
    inside, once. In event mode the neuron returns a spike train that the next
    :class:`TemporalLinear` consumes step by step.

    Shapes: ``x [..., D]`` → ``[..., D]``.
    """

    def __init__(self, activation: nn.Module | None, neuron: nn.Module, neuron_ref: Any = None, *,
                 feature_dim: int | None = None) -> None:
        super().__init__()
        if not isinstance(neuron, nn.Module):
            raise FastSNNError(f"SpikingActivation needs the neuron as an nn.Module, got {type(neuron).__name__}")
        self.activation = activation if activation is not None else nn.Identity()
        self.neuron = neuron
        #: the registry reference the neuron was built from (calibration rebuilds it with a new k)
        self.neuron_ref = neuron_ref
        #: the feature (channel) width found where the activation was (None: unknown)
        self.feature_dim = feature_dim
        #: λ, the calibrated activation range (a 0-d tensor, or one value per channel shaped to
        #: broadcast, e.g. ``[C, 1, 1]`` after a Conv2d): the neuron sees ``a / λ`` and its output is
        #: multiplied back by λ. None: the neuron sees ``a`` itself (set by static calibration).
        self.register_buffer("clip", None)
        self._bypass = False
        self._event = None  # an events.EventSettings inside fastsnn_convert.inference.event_inference

    @property
    def can_be_negative(self) -> bool:
        """Whether this layer's counts may be negative (a signed neuron after an activation with a
        negative range)."""
        if _nonnegative(self.activation):
            return False
        return bool(getattr(getattr(self.neuron, "params", None), "signed", True))

    def spikes(self, x: torch.Tensor) -> SpikeTensor:
        """``x [..., D]`` → the count-view SpikeTensor of ``activation(x)`` (``counts · scale``)."""
        return self._spikes_of(self.activation(x))

    def _spikes_of(self, activated: torch.Tensor) -> SpikeTensor:
        if not isinstance(self.neuron, SpikingNeuron):
            raise FastSNNError(
                f"neuron {type(self.neuron).__name__} has no spikes() method; it is not a fastsnn.SpikingNeuron"
            )
        if self.clip is None:
            return self.neuron.spikes(activated)
        counted = self.neuron.spikes(activated / self.clip)
        return SpikeTensor("count", counts=counted.counts, scale=counted.scale * self.clip)

    def forward(self, x: torch.Tensor) -> Any:
        """``x [..., D]`` → ``[..., D]``; the plain activation while :meth:`bypassed`; a
        :class:`~fastsnn_convert.events.SpikeTrain` inside :func:`~fastsnn_convert.event_inference`."""
        activated = self.activation(x)
        if self._bypass:
            return activated
        if self._event is not None:
            return self._event.emit(self._spikes_of(activated))
        if self.clip is None:
            return self.neuron(activated)
        return self.neuron(activated / self.clip) * self.clip

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        clip = state_dict.get(prefix + "clip")
        if isinstance(clip, torch.Tensor) and (self.clip is None or self.clip.shape != clip.shape):
            self.clip = torch.empty_like(clip)  # a calibrated layer: adopt the stored shape
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_event"] = None  # an event-inference block never travels with a copy
        return state

    @contextmanager
    def bypassed(self) -> Iterator[None]:
        """Within the block behave like the original ANN activation (used by calibration)."""
        previous, self._bypass = self._bypass, True
        try:
            yield
        finally:
            self._bypass = previous

    def extra_repr(self) -> str:
        parts = [f"neuron_ref={self.neuron_ref!r}"] if self.neuron_ref is not None else []
        if self.clip is not None:
            parts.append(f"clip={'per-channel ' + str(tuple(self.clip.shape)) if self.clip.numel() > 1 else f'{float(self.clip):.4g}'}")
        return ", ".join(parts)


def _nonnegative(activation: nn.Module) -> bool:
    """Whether ``activation``'s output is never negative (ReLU, ReLU6, a Hardtanh with min_val >= 0)."""
    if type(activation) in (nn.ReLU, nn.ReLU6):
        return True
    return type(activation) is nn.Hardtanh and activation.min_val >= 0




def _synaptic(x: SpikeTensor, apply: Any, dtype: torch.dtype,
              per_token_factors: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``apply`` (a linear map without bias) on the spikes of ``x``: one update per time step.

    Returns ``(synaptic, factor)``: the output is ``synaptic · factor`` (``factor`` None: already
    scaled). A scale that is one number, or one per token (last axis 1, as the adaptive threshold
    gives), factors out of the map: it runs on the integer counts/events and is multiplied once.
    Any other scale (one per channel) goes in with the spikes — ``W (e_t ⊙ s)`` per step, the
    synaptic weights scaled per input. ``per_token_factors=False`` (a convolution, which mixes
    positions along the last axis) factors out only a single number.
    """
    scale = x.scale.to(dtype)
    factor = scale if scale.numel() == 1 or (per_token_factors and scale.dim() > 0 and scale.shape[-1] == 1) else None
    inner = None if factor is not None else scale
    if x.view == "count":
        counts = x.counts.to(dtype)
        return apply(counts if inner is None else counts * inner), factor
    events = x.spikes  # (T_s, *S)
    step_weights = x.coding.step_weights(events.shape[0], events.device).to(dtype)
    synaptic = None
    for t in range(events.shape[0]):  # one synaptic update per time step
        e_t = events[t].to(dtype)
        update = step_weights[t] * apply(e_t if inner is None else e_t * inner)
        synaptic = update if synaptic is None else synaptic + update
    return synaptic, factor


class TemporalLinear(nn.Linear):
    """A Linear layer that takes dense tensors of any leading shape or spike trains.

    It shares the converted layer's parameters (same ``weight``/``bias`` tensors, same state-dict
    names), so the converted network computes exactly what the ANN layer did on dense input.

    - ``x [..., in_features]`` (``[B, D]``, ``[B, T, D]``, …) → ``x Wᵀ + b``, shape ``[..., out]``.
    - A count-view :class:`~fastsnn.SpikeTensor` with per-token scale ``s [..., 1]`` (or one scale):
      ``(n Wᵀ) · s + b`` — the matmul runs on the integer counts. A per-feature scale ``s [in]``
      (per-channel calibration) enters as ``(n ⊙ s) Wᵀ + b``.
    - An event-view SpikeTensor (``e [T_s, ..., in]``, step weights ``w_t``), or the
      :class:`~fastsnn_convert.events.SpikeTrain` of :func:`~fastsnn_convert.event_inference`:
      ``(Σ_t w_t · e_t Wᵀ) · s + b`` — event-driven, one synaptic update per time step. Equal to
      the count path up to float summation order.
    - A tensor-like object with ``__torch_function__`` and a ``shape`` (the spike trains
      ``fastsnn_neurons.event_mode`` passes between layers): handed to ``F.linear``, which it
      overrides (a train maps step by step to a train).
    """

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> TemporalLinear:
        """Wrap ``linear`` without copying: the new layer holds the very same parameters."""
        wrapped = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta")
        wrapped.weight = linear.weight
        wrapped.bias = linear.bias
        return wrapped

    def forward(self, x: torch.Tensor | SpikeTensor) -> torch.Tensor:
        spikes = as_spikes(x)
        if spikes is not None:
            return self._forward_spikes(spikes)
        if not isinstance(x, torch.Tensor) and not _is_tensor_like(x):
            raise FastSNNError(f"TemporalLinear takes a tensor or a SpikeTensor, got {type(x).__name__}")
        self._check_width(x.shape)
        # a tensor-like (event mode's spike train) handles F.linear itself through __torch_function__
        return F.linear(x, self.weight, self.bias)

    def _forward_spikes(self, x: SpikeTensor) -> torch.Tensor:
        self._check_width(x.shape)
        if x.view == "dense":
            return F.linear(x.to_dense().to(self.weight.dtype), self.weight, self.bias)
        synaptic, factor = _synaptic(x, lambda v: F.linear(v, self.weight), self.weight.dtype)
        out = synaptic if factor is None else synaptic * factor
        return out + self.bias if self.bias is not None else out

    def _check_width(self, shape: torch.Size) -> None:
        if len(shape) == 0 or shape[-1] != self.in_features:
            raise FastSNNError(
                f"TemporalLinear expects inputs [..., {self.in_features}] (e.g. [B, {self.in_features}] or "
                f"[B, T, {self.in_features}]), got shape {tuple(shape)}"
            )


def _is_tensor_like(x: Any) -> bool:
    """Whether ``x`` overrides torch functions itself (``__torch_function__``) and has a shape."""
    return hasattr(type(x), "__torch_function__") and isinstance(getattr(x, "shape", None), torch.Size)


def _over_time(x: torch.Tensor, sample_dims: int, fn: Any, what: str) -> torch.Tensor:
    """``fn`` on ``x`` whose last ``sample_dims`` axes are one sample (``[C, L]``, ``[C, H, W]``):

    ``[*sample]`` (unbatched) and ``[B, *sample]`` go straight in; ``[B, T, *sample]`` (a temporal
    input) is run as ``B·T`` samples and split back.
    """
    if x.dim() in (sample_dims, sample_dims + 1):
        return fn(x)
    if x.dim() == sample_dims + 2:
        batch, steps = x.shape[:2]
        out = fn(x.reshape(batch * steps, *x.shape[2:]))  # (B·T, *sample)
        return out.reshape(batch, steps, *out.shape[1:])  # (B, T, *sample')
    raise FastSNNError(
        f"{what} expects [C, ...], [B, C, ...] or [B, T, C, ...] with {sample_dims} axes per sample, "
        f"got shape {tuple(x.shape)}"
    )


class _TemporalConv:
    """Shared forward of :class:`TemporalConv1d` / :class:`TemporalConv2d` (mixed into nn.ConvNd)."""

    spatial_dims: int = 0

    @classmethod
    def from_conv(cls, conv: nn.modules.conv._ConvNd) -> Any:
        """Wrap ``conv`` without copying: the new layer holds the very same parameters."""
        wrapped = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                      padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                      bias=conv.bias is not None, padding_mode=conv.padding_mode, device="meta")
        wrapped.weight = conv.weight
        wrapped.bias = conv.bias
        return wrapped

    def _conv(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return _over_time(x, self.spatial_dims + 1, lambda v: self._conv_forward(v, self.weight, bias),
                          type(self).__name__)

    def forward(self, x: Any) -> Any:
        spikes = as_spikes(x)
        if spikes is None:
            if not isinstance(x, torch.Tensor) and not _is_tensor_like(x):
                raise FastSNNError(f"{type(self).__name__} takes a tensor or a SpikeTensor, got {type(x).__name__}")
            if not isinstance(x, torch.Tensor):  # another package's spike train: its own torch function
                return self._conv_forward(x, self.weight, self.bias)
            return self._conv(x, self.bias)
        if spikes.view == "dense":
            return self._conv(spikes.to_dense().to(self.weight.dtype), self.bias)
        synaptic, factor = _synaptic(spikes, lambda v: self._conv(v, None), self.weight.dtype, per_token_factors=False)
        out = synaptic if factor is None else synaptic * factor
        if self.bias is not None:
            out = out + self.bias.view(-1, *([1] * self.spatial_dims))
        return out


class TemporalConv1d(_TemporalConv, nn.Conv1d):
    """A Conv1d taking ``[C, L]``, ``[B, C, L]``, temporal ``[B, T, C, L]`` inputs or spikes.

    Same parameters (and state-dict names) as the converted ``nn.Conv1d``. A SpikeTensor or
    :class:`~fastsnn_convert.events.SpikeTrain` is convolved count by count or step by step —
    ``Σ_t w_t · conv(e_t)`` times the spike value, bias once — equal to the dense path up to float
    summation order.
    """

    spatial_dims = 1


class TemporalConv2d(_TemporalConv, nn.Conv2d):
    """A Conv2d taking ``[C, H, W]``, ``[B, C, H, W]``, temporal ``[B, T, C, H, W]`` inputs or spikes.

    As :class:`TemporalConv1d`, in two spatial dimensions.
    """

    spatial_dims = 2


#: pooling classes by kind (max or average) and number of spatial dimensions
_POOLS: dict[type[nn.Module], tuple[str, int]] = {
    nn.MaxPool1d: ("max", 1), nn.MaxPool2d: ("max", 2),
    nn.AdaptiveMaxPool1d: ("max", 1), nn.AdaptiveMaxPool2d: ("max", 2),
    nn.AvgPool1d: ("avg", 1), nn.AvgPool2d: ("avg", 2),
    nn.AdaptiveAvgPool1d: ("avg", 1), nn.AdaptiveAvgPool2d: ("avg", 2),
}


class TemporalPool(nn.Module):
    """Max or average pooling (the original ``nn`` pooling module, kept as ``self.pool``) for temporal
    inputs ``[B, T, C, ...]`` and spikes.

    **Average pooling** is linear: on spikes it reads them out and pools the values, which is exactly
    the pooled count-mode value (up to float rounding); a chip would fold it into the next
    layer's weights (average pooling followed by a convolution is a convolution).

    **Max pooling — what is exact.** The ANN takes the max of the *values* in each window. On spike
    counts ``n`` with one spike value ``s`` shared by the whole window (a calibrated fixed
    threshold: one λ per layer or per channel) ``max(n)·s`` is that max of the quantised values,
    exactly; so this module pools the **counts** (count view) and, for a spike train, passes on the
    **whole train of the input with the largest count** in each window — its events decode to
    ``max(n)``. It is *not* the max of the spikes per time step: for binary trains ``1010`` and
    ``0101`` (counts 2 and 2) the per-step max (an OR) is ``1111``, a count of 4; max over rates
    per step overestimates. Choosing the winner needs the window's counts — under ``bitwise``
    (MSB first) the largest train is also the lexicographically largest, so it is known as the bits
    arrive; under ``binary`` only once the window has ended. Where the spike value varies inside a
    window (the adaptive threshold's per-token ``V_th`` of a conv feature map) the counts are not
    comparable: the module pools the read-out values instead (exact, but dense).
    """

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        if type(pool) not in _POOLS:
            raise FastSNNError(
                f"TemporalPool wraps one of {', '.join(c.__name__ for c in _POOLS)}, got {type(pool).__name__}"
            )
        self.pool = pool
        self.kind, self.spatial_dims = _POOLS[type(pool)]

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return _over_time(x, self.spatial_dims + 1, self.pool, type(self.pool).__name__)

    def forward(self, x: Any) -> Any:
        spikes = as_spikes(x)
        if spikes is None:
            return self._pool(x) if isinstance(x, torch.Tensor) else self.pool(x)
        if self.kind == "avg" or spikes.view == "dense" or not self._shared_scale(spikes):
            return self._pool(spikes.to_dense())
        counts = spikes.counts
        pooled, index = self._max_with_index(counts.to(torch.float64))  # float64 holds counts < 2^53 exactly
        if spikes.view == "count":
            return SpikeTensor("count", counts=pooled.to(counts.dtype), scale=spikes.scale)
        events = spikes.spikes  # (T, *S): the winners' trains, step by step
        flat = events.flatten(-self.spatial_dims)  # (T, ..., C, L·…)
        index = index.flatten(-self.spatial_dims).unsqueeze(0).expand(events.shape[0], *([-1] * (flat.dim() - 1)))
        gathered = flat.gather(-1, index)
        train = SpikeTensor("event", events=gathered.reshape(events.shape[0], *pooled.shape), scale=spikes.scale,
                            coding=spikes.coding)
        return type(x)(train) if not isinstance(x, SpikeTensor) else train

    def _max_with_index(self, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Max-pool ``counts [.., C, *spatial]`` (temporal inputs merged), with the flat argmax index."""
        pool = self.pool
        fn = {(1, False): F.max_pool1d, (2, False): F.max_pool2d,
              (1, True): F.adaptive_max_pool1d, (2, True): F.adaptive_max_pool2d}
        adaptive = isinstance(pool, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d))

        def run(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if adaptive:
                return fn[(self.spatial_dims, True)](v, pool.output_size, return_indices=True)
            return fn[(self.spatial_dims, False)](v, pool.kernel_size, pool.stride, pool.padding, pool.dilation,
                                                  ceil_mode=pool.ceil_mode, return_indices=True)

        sample = self.spatial_dims + 1
        if counts.dim() == sample + 2:  # temporal [B, T, C, ...]
            batch, steps = counts.shape[:2]
            pooled, index = run(counts.reshape(batch * steps, *counts.shape[2:]))
            return pooled.reshape(batch, steps, *pooled.shape[1:]), index.reshape(batch, steps, *index.shape[1:])
        return run(counts)

    def _shared_scale(self, x: SpikeTensor) -> bool:
        """Whether one spike value holds across each pooling window (its spatial axes are 1)."""
        scale = x.scale
        return scale.dim() == 0 or all(size == 1 for size in scale.shape[-self.spatial_dims:])

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


class TemporalFlatten(nn.Flatten):
    """``nn.Flatten`` that knows one sample's rank, so temporal inputs ``[B, T, *sample]`` keep ``T``.

    ``sample_dims`` (the axes of one sample, e.g. 3 for a Conv2d's ``[C, H, W]``; set at conversion
    from the last convolution before the flatten) lets ``Flatten(1)`` flatten ``[B, T, C, H, W]``
    to ``[B, T, C·H·W]``; an input with the sample's rank plus one is flattened as ``nn.Flatten``
    would. ``sample_dims=None`` is plain ``nn.Flatten``. Spikes are flattened as spikes (the spike
    value follows its values).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1, sample_dims: int | None = None) -> None:
        super().__init__(start_dim, end_dim)
        self.sample_dims = sample_dims

    @classmethod
    def from_flatten(cls, flatten: nn.Flatten, sample_dims: int | None) -> TemporalFlatten:
        return cls(flatten.start_dim, flatten.end_dim, sample_dims)

    def _dims(self, ndim: int) -> tuple[int, int]:
        start, end = self.start_dim, self.end_dim
        if self.sample_dims is not None and ndim == self.sample_dims + 2 and start >= 1:
            start += 1  # a time axis after the batch axis
            end = end + 1 if end >= 0 else end
        return start, end

    def forward(self, x: Any) -> Any:
        spikes = as_spikes(x)
        if spikes is None:
            if not isinstance(x, torch.Tensor):
                return super().forward(x)
            return x.flatten(*self._dims(x.dim()))
        ndim = len(spikes.shape)
        start, end = self._dims(ndim)
        start, end = start % ndim, end % ndim
        scale = spikes.scale
        if scale.dim() > 0:
            scale = scale.expand(spikes.shape).flatten(start, end)
        if spikes.view == "count":
            return SpikeTensor("count", counts=spikes.counts.flatten(start, end), scale=scale)
        if spikes.view == "dense":
            return spikes.to_dense().flatten(start, end)
        train = SpikeTensor("event", events=spikes.spikes.flatten(start + 1, end + 1), scale=scale,
                            coding=spikes.coding)
        return type(x)(train) if not isinstance(x, SpikeTensor) else train

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.sample_dims is None else f", sample_dims={self.sample_dims}")
