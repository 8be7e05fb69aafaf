"""Single-token decoding compiled with ``torch.compile``: what makes decode memory-bound on a CPU.

An eager decode step of a small LM is ~650 operator calls around ~50 matrix-vector products
(GEMVs). On a CPU both are slow for the same reason: a batch-1 ``x·Wᵀ`` goes to a BLAS GEMM that
streams the weights on one thread at well under the memory bandwidth, and every elementwise
operator pays Python and dispatcher overhead for microseconds of work. Reading the weights once
per token is the bound (``BENCHMARKS.md``, "Long context").

:class:`CompiledDecoder` compiles the blocks, the final norm and the head of one decode step with
TorchInductor, with one change to its lowering: a product whose left side is a single row
(``aten.mm``/``aten.addmm`` with ``M == 1``) is written as an elementwise product and a sum, so it
becomes a generated, multithreaded, vectorised reduction over the weight rows instead of a BLAS
call (TorchInductor already does this on GPUs; on CPUs it keeps the BLAS call). The attention
kernels contribute their own compile-friendly forms (real-valued RoPE, the SWA ring as explicit
reductions; see ``torch.compiler.is_compiling()`` in ``fastsnn-attention``). Everything else —
the cache objects, their positions, the layers' Python — is traced by Dynamo as written, so any
model decodes this way; a construct Dynamo cannot trace falls back to eager for that part (slower,
never wrong).

The compiled step is numerically the eager step up to float reassociation (tested against it:
``tests/test_compiled_decode.py``). Inductor's CPU backend needs a C++ compiler (``g++``/``clang++``)
at run time; the first step compiles (seconds to a minute), and the second recompiles once with
the position symbolic.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
from typing import TYPE_CHECKING, Any, Callable

import torch

from fastsnn.errors import FastSNNError

if TYPE_CHECKING:
    from fastsnn.model.cache import ModelCache
    from fastsnn.model.lm import SpikingLM

__all__ = ["ALL_THREADS_FROM_BATCH", "CompiledDecoder", "compiler_problem", "default_threads", "gemv_decompositions"]

_instances = itertools.count()


def compiler_problem() -> str | None:
    """Why ``torch.compile`` cannot build CPU kernels here (``None`` when it can)."""
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    try:
        from torch._inductor import config as inductor_config

        configured = inductor_config.cpp.cxx
    except Exception:
        configured = (None, "g++")
    candidates = [c for c in (configured if isinstance(configured, tuple) else (configured,)) if c]
    if not any(shutil.which(c) for c in [*candidates, "g++", "c++", "clang++"]):
        return ("torch.compile's CPU backend needs a C++ compiler and none was found on PATH (g++, c++ or "
                "clang++); install one (e.g. `apt-get install g++`) or decode without compile")
    return None


def _single_row(a: torch.Tensor) -> bool:
    try:
        from torch.fx.experimental.symbolic_shapes import statically_known_true
    except ImportError:  # pragma: no cover - every torch with torch.compile has it
        return False
    return a.dim() == 2 and statically_known_true(a.shape[0] == 1)


def _gemv_mm(a: torch.Tensor, b: torch.Tensor, out_dtype: torch.dtype | None = None) -> Any:
    """``a [1, K] @ b [K, N]`` → ``[1, N]`` as a product and a sum over K (a fused reduction)."""
    if out_dtype is not None or not _single_row(a) or a.dtype != b.dtype:
        return NotImplemented
    return (a.squeeze(0)[:, None] * b).sum(0, keepdim=True)


def _gemv_addmm(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *, beta: Any = 1, alpha: Any = 1,
                out_dtype: torch.dtype | None = None) -> Any:
    """``beta·bias + alpha·(a [1, K] @ b [K, N])`` with the product as in :func:`_gemv_mm`."""
    if out_dtype is not None or not _single_row(a) or a.dtype != b.dtype:
        return NotImplemented
    return beta * bias + alpha * (a.squeeze(0)[:, None] * b).sum(0, keepdim=True)


def gemv_decompositions() -> dict[Any, Callable[..., Any]]:
    """TorchInductor's decomposition table with single-row ``mm``/``addmm`` written as reductions."""
    from torch._inductor.decomposition import select_decomp_table

    aten = torch.ops.aten
    table = dict(select_decomp_table())
    table[aten.mm.default] = _gemv_mm
    table[aten.addmm.default] = _gemv_addmm
    return table


#: the batch size from which the compiled step's kernels use all of torch's threads under ``PASSIVE``
ALL_THREADS_FROM_BATCH = 16


def default_threads(batch: int = 1) -> int:
    """Threads of the compiled step's kernels for ``batch`` sequences: 1 under
    ``OMP_WAIT_POLICY=PASSIVE`` (FastSNN's thread policy) below :data:`ALL_THREADS_FROM_BATCH`
    sequences, else torch's intra-op thread count.

    A step's generated kernel is ~17 OpenMP parallel regions with ~100 barriers between its loops
    (each GEMV, each small elementwise loop run by one thread). Under ``PASSIVE`` a thread that
    reaches a barrier first sleeps and is woken by a futex — tens of microseconds in a VM — so at
    batch 1 on the 2-core machine one thread decoded 10–20% faster than two (6.7–6.9 against
    7.5–8.6 ms per token, BENCHMARKS.md "Long context") and leaves the other core free. Larger
    batches give each loop enough work to pay for the wake-ups (d_model 512, 8 layers, medians of
    40 interleaved steps, 1 against 2 threads: batch 8 26.1 / 26.0 ms, batch 16 48.8 / 46.3 ms,
    batch 32 61.0 / 51.3 ms). With spinning threads (``OMP_WAIT_POLICY=ACTIVE``, a dedicated
    machine) the barriers are cheap and all threads help at every batch size.

    :raises FastSNNError: ``batch`` is not a positive whole number.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise FastSNNError(f"batch must be a positive whole number, got {batch!r}")
    passive = os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE"
    if passive and batch < ALL_THREADS_FROM_BATCH:
        return 1
    return torch.get_num_threads()


def _backend(threads: int) -> Any:
    """Inductor with :func:`gemv_decompositions` and ``threads`` kernel threads (plain
    ``"inductor"`` if its private API moved)."""
    try:
        from torch._inductor.compile_fx import compile_fx

        return functools.partial(compile_fx, decompositions=gemv_decompositions(),
                                 config_patches={"cpp.threads": threads})
    except (ImportError, TypeError, AttributeError):  # pragma: no cover - other torch versions
        return "inductor"


def _run_blocks(model: SpikingLM, x: torch.Tensor, layers: list[Any]) -> torch.Tensor:
    return model.head(model.norm(model.run_blocks(x, layers)))


class CompiledDecoder:
    """One model's compiled decode step: ``decoder(ids [B, 1], cache)`` → logits ``[B, 1, vocab]``.

    Advances ``cache`` by one token exactly as ``model(ids, cache=cache)`` does, with the same
    checks before any work (ids, cache owner and batch, the length limit) and one after: logits
    that are NaN or inf raise (the neurons' own finiteness checks are data-dependent branches, which
    a compiled graph leaves out).

    ``threads``: the generated kernels' thread count; ``None`` (the default) picks
    :func:`default_threads` for each batch size — one thread below
    :data:`ALL_THREADS_FROM_BATCH` sequences under FastSNN's ``PASSIVE`` thread policy, all of
    torch's from there. Each thread count is its own compiled step, and each decoder compiles its
    own copies (its own Dynamo cache entries), so several models in one process neither share nor
    evict each other's compiled code. Pickling or copying a decoder keeps its model and ``threads``
    but not the compiled code, which the copy compiles anew on its first step; a pickled or copied
    *model* leaves its decoder behind and makes one on demand (:meth:`SpikingLM.compiled_decoder`).

    :raises FastSNNError: no C++ compiler for Inductor's CPU backend or a bad ``threads`` (at
        construction), a compile failure (first call at a thread count: start again from a fresh
        cache, since layers before the failure may have advanced theirs), bad ids or cache, or
        non-finite logits.
    """

    def __init__(self, model: SpikingLM, threads: int | None = None) -> None:
        problem = compiler_problem()
        if problem is not None:
            raise FastSNNError(problem)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise FastSNNError(f"compiled decoder threads must be a positive whole number or None, got {threads!r}")
        self.model = model
        #: the kernel thread count asked for; ``None``: :func:`default_threads` of each batch size
        self.threads = threads
        self._steps: dict[int, Callable[..., torch.Tensor]] = {}  # kernel threads -> compiled step
        self._compiled: set[int] = set()  # thread counts whose step has run once (compiled)
        self.calls = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"model": self.model, "threads": self.threads, "calls": self.calls}  # compiled code does not pickle

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._steps, self._compiled = {}, set()

    def threads_for(self, batch: int) -> int:
        """The kernel thread count of a step over ``batch`` sequences."""
        return default_threads(batch) if self.threads is None else self.threads

    def _compiled_step(self, threads: int) -> Callable[..., torch.Tensor]:
        step = self._steps.get(threads)
        if step is None:
            code = _run_blocks.__code__.replace(co_name=f"fastsnn_decode_step_{next(_instances)}")
            function = type(_run_blocks)(code, _run_blocks.__globals__, code.co_name)
            step = self._steps[threads] = torch.compile(function, backend=_backend(threads))
        return step

    def __call__(self, input_ids: torch.Tensor, cache: ModelCache) -> torch.Tensor:
        model = self.model
        x = model.embed_tokens(input_ids, cache)  # (B, T, d): the checks of an eager step, before any work
        if x.shape[1] != 1:
            raise FastSNNError(f"the compiled decoder takes one token per sequence, got input_ids of shape "
                               f"{tuple(input_ids.shape)}; prefill longer inputs with model.prefill")
        threads = self.threads_for(x.shape[0])
        try:
            logits = self._compiled_step(threads)(model, x, cache.layers)  # (B, 1, vocab)
        except FastSNNError:
            raise
        except Exception as error:
            if threads not in self._compiled:
                raise FastSNNError(f"compiling the decode step failed ({type(error).__name__}: "
                                   f"{str(error).splitlines()[0] if str(error) else ''}); decode without "
                                   "compile, or report it with the model's config") from error
            raise
        self._compiled.add(threads)
        self.calls += 1
        cache.seen += 1
        if not bool(torch.isfinite(logits).all()):
            raise FastSNNError(f"the decode step at position {cache.seen - 1} produced NaN or inf logits; "
                               "a layer diverged (check the weights, or decode without compile to find the neuron)")
        return logits
