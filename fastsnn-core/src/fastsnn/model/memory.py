"""Will a prefill fit in memory? The memory available, and what one chunk and the cache's growth need.

:meth:`SpikingLM.prefill <fastsnn.model.lm.SpikingLM.prefill>` streams a prompt through the model
``chunk_size`` tokens at a time. Its working memory is that of one chunk (the activations of one
layer at a time, and the logits of the last chunk) plus the growth of caches that keep every token
(softmax keys and values). :func:`check_prefill_memory` compares an estimate of that with the
memory available before any work, so an impossible request fails at once with a clear message
rather than after minutes of work with the process killed.

The estimate (:func:`prefill_chunk_bytes`) is deliberately generous (an upper bound): measured on
a d_model 512, d_ff 2048, 8-layer hybrid_alt model (fp32, chunk 512 … 8192) the peak was 35–60%
of it; see BENCHMARKS.md, "Long context".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from fastsnn.errors import FastSNNError

if TYPE_CHECKING:
    from fastsnn.model.cache import ModelCache
    from fastsnn.model.lm import SpikingLM

GIB = 2**30

#: activations live during one layer, per token, in units of d_model (residual, norms, q/k/v/o,
#: kernel working copies such as the SWA key blocks and linear attention's chunk scores) ...
ACTIVATION_WIDTHS_D_MODEL = 24
#: ... and in units of d_ff (the FFN's hidden pre-activation, spikes and output of the neuron)
ACTIVATION_WIDTHS_D_FF = 4


def available_memory_bytes(device: torch.device | str = "cpu") -> int | None:
    """Bytes that can still be allocated on ``device``, or ``None`` when this cannot be known.

    CPU: ``MemAvailable`` of ``/proc/meminfo`` (Linux), lowered to the cgroup's memory limit minus
    its usage when the process runs in a container with one. CUDA: ``torch.cuda.mem_get_info``.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as f:
            fields = {line.split(":")[0]: line.split()[1] for line in f if ":" in line}
        available = int(fields["MemAvailable"]) * 1024
    except (OSError, KeyError, ValueError, IndexError):
        return None
    try:  # cgroup v2: a container's limit may be far below the host's free memory
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            used = int(f.read().strip())
        if limit != "max":
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(0, available)


def prefill_chunk_bytes(model: SpikingLM, batch_size: int, chunk: int, seen: int = 0) -> int:
    """Upper estimate of the working memory of one prefill chunk of ``chunk`` tokens after ``seen``
    cached ones (activations of one layer at a time, the last chunk's logits, and a softmax layer's
    ``chunk × (seen + chunk)`` attention mask per head group when the model has one).

    Excludes the weights and the cache (see :func:`check_prefill_memory` for the cache's growth).
    """
    config = model.config
    param = next(model.parameters())
    element = max(4, param.element_size())  # kernels accumulate in fp32
    per_token = element * (ACTIVATION_WIDTHS_D_MODEL * config.d_model + ACTIVATION_WIDTHS_D_FF * config.ffn_width
                           + config.vocab_size)
    total = batch_size * chunk * per_token
    if any(module.needs_max_seq_len for module in _attention_modules(model)):
        # SDPA continuing a cached sequence takes a chunk × (seen + chunk) mask, converted to float
        total += 4 * batch_size * chunk * (seen + chunk)
    return total


def check_prefill_memory(model: SpikingLM, cache: ModelCache, chunk: int, new_tokens: int,
                         available: int | None = None) -> None:
    """Refuse a prefill whose chunk and cache growth cannot fit in the memory available.

    :param chunk: tokens per chunk actually used (``min(chunk_size, new_tokens)``).
    :param new_tokens: prompt tokens to consume after the ``cache.seen`` already cached.
    :param available: bytes available (default :func:`available_memory_bytes` of the model's device;
        nothing is checked when that is unknown).
    :raises FastSNNError: the estimate exceeds what is available; the message gives both, the
        cache's growth per token, and what to change.
    """
    device = next(model.parameters()).device
    if available is None:
        available = available_memory_bytes(device)
    if available is None:
        return
    working = prefill_chunk_bytes(model, cache.batch_size, chunk, cache.seen + new_tokens - chunk)
    growth = cache.bytes_per_token() * new_tokens
    if working + growth <= available:
        return
    parts = f"about {working / GIB:.2f} GiB of working memory for a chunk of {chunk} tokens"
    if growth:
        parts += (f" + {growth / GIB:.2f} GiB of cache growth ({cache.bytes_per_token():,} bytes per token "
                  f"for {new_tokens:,} tokens: the KV cache of layers that keep every token)")
    fix = ("the cache alone does not fit: prefill fewer tokens, or use layers with constant-size state "
           "(linear, gla, swa, hybrid_alt)" if growth > available else
           f"use a smaller chunk_size (at most about {max(1, chunk * (available - growth) // max(1, working)):,})")
    raise FastSNNError(f"prefill needs {parts}, but only {available / GIB:.2f} GiB are available on {device}; {fix}")


def _attention_modules(model: SpikingLM) -> list:
    from fastsnn.attention import AttentionBase

    return [m for m in model.modules() if isinstance(m, AttentionBase)]
