"""SpikingLM: embedding → blocks (attention + spiking FFN) → norm → head."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from pydantic import ValidationError
from torch import nn
from torch.nn import functional as F

from fastsnn.attention import AttentionBase
from fastsnn.config.model import ModelConfig
from fastsnn.config.refs import ComponentRef
from fastsnn.errors import FastSNNError, format_validation_error
from fastsnn.model.cache import ModelCache
from fastsnn.model.compiled_decode import CompiledDecoder
from fastsnn.model.memory import check_prefill_memory
from fastsnn.model_folder import load_into, missing_component_hint, read_model_folder, save_model_folder


class Block(nn.Module):
    """``x + attn(norm(x))`` then ``x + ffn(norm(x))``."""

    def __init__(self, config: ModelConfig, layer_idx: int, attention: ComponentRef) -> None:
        super().__init__()
        d = config.d_model
        self.attn_norm = config.norm.build(dim=d)
        self.attn = attention.build(d_model=d, n_heads=config.n_heads, layer_idx=layer_idx,
                                    max_seq_len=config.max_seq_len)
        self.ffn_norm = config.norm.build(dim=d)
        neuron = nn.Identity() if config.neuron is None else config.neuron.build()  # None: a non-spiking model
        self.ffn = config.ffn.build(d_model=d, d_ff=config.ffn_width, neuron=neuron)

    def forward(self, x: torch.Tensor, cache: Any = None) -> torch.Tensor:  # x: (B, T, d)
        x = x + self.attn(self.attn_norm(x), cache)
        return x + self.ffn(self.ffn_norm(x))


class SpikingLM(nn.Module):
    """A causal language model whose FFN activations are spiking neurons."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        # GPT-2's learned absolute positions (validated: max_seq_len is set)
        self.pos_embed = (nn.Embedding(config.max_seq_len, config.d_model)
                          if config.position_embedding == "learned" else None)
        self.layer_attention = config.layer_attention()
        self.blocks = nn.ModuleList(Block(config, i, ref) for i, ref in enumerate(self.layer_attention))
        self.norm = config.norm.build(dim=config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        if config.tie_embeddings:
            self.head.weight = self.embed.weight
        self._length_limit = self._find_length_limit()  # layers never change their limit after construction

    def save_pretrained(self, directory: str | Path, *, metadata: dict[str, Any] | None = None,
                        tokenizer: dict[str, Any] | None = None) -> Path:
        """Write this model as a model folder (see :mod:`fastsnn.model_folder`); returns the folder.

        :raises FastSNNError: a weight holds NaN/inf (naming it), or ``directory`` cannot be written.
        """
        return save_model_folder(self, directory, metadata=metadata, tokenizer=tokenizer)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> SpikingLM:
        """Same as :func:`fastsnn.from_pretrained`."""
        return from_pretrained(path)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.init_std)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def layout_for_decoding(self, compiled: bool = False) -> SpikingLM:
        """Store each ``nn.Linear`` weight in the memory order that single-token decoding reads fastest;
        returns ``self``. Values, shapes, names, saved files and gradients are unchanged.

        ``compiled=True`` is the order for :meth:`decode` with ``compile=True``: every weight
        row-major, which the compiled step's generated GEMV (a reduction along each row) streams
        fastest — column-major weights there decoded 25% slower (BENCHMARKS.md, "Long context").

        Decoding one token multiplies a vector by every weight matrix (a GEMV), which is bound by
        how fast the weights stream from memory. ``x·Wᵀ`` streams a row-major ``W [out, in]`` in
        long rows when ``in ≥ out``; when ``out > in`` (an FFN's up projection, the output head)
        the column-major layout does (``Wᵀ`` contiguous). Measured on the 2-core CPU: MKL's GEMV of
        a ``[2048, 512]`` weight at 9.2 GB/s row-major against 19 GB/s column-major; the d_model
        512, 8-layer model decoded 10% faster (BENCHMARKS.md, "Long context"). For inference: it
        copies those weights once (``param.data`` is replaced, so optimizers keep their parameters).
        """
        for module in self.modules():
            weight = getattr(module, "weight", None)
            if not isinstance(module, nn.Linear) or not isinstance(weight, torch.Tensor) or weight.dim() != 2:
                continue
            if not weight.dtype.is_floating_point:
                continue
            if compiled or weight.shape[0] <= weight.shape[1]:
                if not weight.is_contiguous():
                    weight.data = weight.data.contiguous()  # row-major
            elif weight.stride() != (1, weight.shape[0]):
                weight.data = weight.data.t().contiguous().t()  # same [out, in] shape, column-major
        return self

    def compiled_decoder(self, threads: int | None = None) -> CompiledDecoder:
        """This model's compiled single-token step (made on first use, then kept):
        ``decoder(ids [B, 1], cache)`` → logits ``[B, 1, vocab]``, advancing ``cache`` exactly like
        ``self(ids, cache=cache)``. ``threads``: its kernels' thread count (default ``None``: chosen
        per batch size — one thread for fewer than 16 sequences under FastSNN's ``PASSIVE`` thread
        policy, all of torch's otherwise; see :func:`fastsnn.model.compiled_decode.default_threads`);
        asking for another count makes a new decoder. See :mod:`fastsnn.model.compiled_decode`.

        :raises FastSNNError: no C++ compiler for ``torch.compile``'s CPU backend, or a bad ``threads``.
        """
        decoder = self.__dict__.get("_compiled_decoder")
        if decoder is None or (threads is not None and threads != decoder.threads):
            decoder = CompiledDecoder(self, threads)
            self.__dict__["_compiled_decoder"] = decoder
        return decoder

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_compiled_decoder", None)  # compiled code neither pickles nor copies: rebuilt on demand
        return state

    # -- decoding state --------------------------------------------------------------------
    def init_cache(self, batch_size: int) -> ModelCache:
        """An empty cache for ``batch_size`` sequences (O(1) for linear attention, O(W) for SWA)."""
        if batch_size <= 0:
            raise FastSNNError(f"batch_size must be positive, got {batch_size}")
        param = next(self.parameters())
        layers = [b.attn.init_cache(batch_size, device=param.device, dtype=param.dtype) for b in self.blocks]
        return ModelCache(layers=layers, batch_size=batch_size, owner_id=id(self))

    # -- sequence limit --------------------------------------------------------------------
    def length_limit(self) -> tuple[int, str] | None:
        """The longest sequence (cached + new tokens) the model accepts, and why: ``(tokens, reason)``;
        ``None`` when there is no limit.

        The limit is the smallest ``max_seq_len`` among the attention modules (every layer gets the
        model config's), found once when the model is built. The reason names a layer that needs it
        (its :attr:`~fastsnn.attention.AttentionBase.needs_max_seq_len`, e.g. softmax's KV cache)
        or, when none does, says that the config alone sets it.
        """
        return self._length_limit

    def _find_length_limit(self) -> tuple[int, str] | None:
        best: tuple[int, bool, str] | None = None
        for name, module in self.named_modules():
            limit = getattr(module, "max_seq_len", None) if isinstance(module, AttentionBase) else None
            if limit is None:
                continue
            needs = module.needs_max_seq_len
            if best is None or limit < best[0] or (limit == best[0] and needs and not best[1]):
                who = (f"{name} ({type(module).__name__}, layer {module.layer_idx}) needs a limit: {needs}" if needs
                       else "set in the model config; no layer needs a limit: leave max_seq_len unset to lift it")
                best = (limit, bool(needs), who)
        if self.pos_embed is not None and (best is None or not best[1] or self.pos_embed.num_embeddings < best[0]):
            best = (self.pos_embed.num_embeddings, True,
                    "pos_embed (the learned position table) needs a limit: it has one row per position")
        return None if best is None else (best[0], best[2])

    def check_length(self, seen: int, new: int) -> None:
        """Refuse ``new`` tokens after ``seen`` cached ones when that exceeds :meth:`length_limit`
        (before any work), naming the layer that sets the limit.

        :raises FastSNNError: the sequence is too long.
        """
        limit = self.length_limit()
        if limit is None or seen + new <= limit[0]:
            return
        tokens, why = limit
        if seen == 0:
            head = f"sequence of {new} tokens is longer than max_seq_len={tokens}"
        else:
            head = (f"sequence too long: cache holds {seen} tokens and {new} more were given, "
                    f"but max_seq_len is {tokens}")
        raise FastSNNError(f"{head} ({why}); raise max_seq_len in the model config"
                           + (", or start a new cache" if seen else ""))

    # -- forward ----------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, cache: ModelCache | None = None) -> torch.Tensor:
        """``input_ids (B, T)`` → logits ``(B, T, vocab)``. With ``cache``, continue from it and advance it."""
        return self.head(self.norm(self.hidden(input_ids, cache)))  # (B, T, vocab)

    def hidden(self, input_ids: torch.Tensor, cache: ModelCache | None = None) -> torch.Tensor:
        """``input_ids (B, T)`` → the last block's output ``(B, T, d_model)`` (before the final norm
        and the head); with ``cache``, continue from it and advance it.

        :raises FastSNNError: bad ids, a cache of another model or batch size, or a sequence longer
            than :meth:`length_limit` (checked before any layer runs).
        """
        x = self.embed_tokens(input_ids, cache)  # (B, T, d)
        x = self.run_blocks(x, None if cache is None else cache.layers)
        if cache is not None:
            cache.seen += x.shape[1]
        return x

    def embed_tokens(self, input_ids: torch.Tensor, cache: ModelCache | None = None) -> torch.Tensor:
        """Check ``input_ids (B, T)`` (and ``cache``: owner, batch, the length limit), then embed
        them at their positions: ``(B, T, d_model)``. Advances nothing.

        :raises FastSNNError: as :meth:`hidden`.
        """
        input_ids = self.check_ids(input_ids)
        B, T = input_ids.shape
        if cache is not None:
            cache.check(id(self), B)
        self.check_length(0 if cache is None else cache.seen, T)
        x = self.embed(input_ids)  # (B, T, d)
        if self.pos_embed is not None:
            start = 0 if cache is None else cache.seen
            x = x + self.pos_embed(torch.arange(start, start + T, device=input_ids.device))  # (T, d) broadcast
        return x

    def run_blocks(self, x: torch.Tensor, layers: list[Any] | None = None) -> torch.Tensor:
        """The blocks on embedded tokens ``x (B, T, d_model)``; with ``layers`` (a ModelCache's
        per-block caches) each block continues and advances its own. The model cache's ``seen`` is
        the caller's to advance."""
        for i, block in enumerate(self.blocks):
            x = block(x, None if layers is None else layers[i])
        return x

    def check_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Validate token ids ``(B, T)``: a non-empty integer tensor with ``0 <= id < vocab_size``.

        Returns them as int64 (what ``nn.Embedding`` takes; narrower integer dtypes are widened).

        :raises FastSNNError: wrong type, shape, dtype, an empty axis, or an id out of range.
        """
        if not isinstance(input_ids, torch.Tensor):
            raise FastSNNError(f"input_ids must be a torch.Tensor of token ids (batch, time), got {type(input_ids).__name__}")
        if input_ids.dim() != 2:
            raise FastSNNError(f"input_ids must have shape (batch, time), got {tuple(input_ids.shape)}")
        if input_ids.dtype.is_floating_point or input_ids.dtype.is_complex or input_ids.dtype == torch.bool:
            raise FastSNNError(f"input_ids must be an integer tensor, got {input_ids.dtype}")
        if input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
            raise FastSNNError(f"input_ids has an empty batch or time axis (shape {tuple(input_ids.shape)}); "
                               "give at least one token of one sequence")
        low, high = (int(v) for v in torch.aminmax(input_ids))
        if low < 0 or high >= self.config.vocab_size:
            bad = low if low < 0 else high
            raise FastSNNError(f"token id {bad} is out of range for vocab_size={self.config.vocab_size} "
                               f"(ids must be in 0..{self.config.vocab_size - 1}); check the tokenizer")
        return input_ids.long()

    @torch.no_grad()
    def prefill(self, input_ids: torch.Tensor, cache: ModelCache, chunk_size: int = 512,
                progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Stream a prompt ``input_ids (B, T)`` of any length into ``cache``, ``chunk_size`` tokens at a time.

        Each chunk runs through every layer and leaves only the cache behind, so the working memory
        is that of one chunk whatever ``T`` is: for layers with constant-size state (linear
        attention, GLA, a sliding-window ring) the peak does not grow with the prompt; a softmax
        layer's KV cache grows by ``cache.bytes_per_token()`` per token (room for all ``T`` is
        reserved up front). No autograd graph is kept. The result equals one call
        ``model(input_ids, cache=cache)`` to float rounding, and decoding continues from ``cache``
        alike.

        Before any work: the ids, the cache, the length limit (a softmax layer's ``max_seq_len``,
        named), and the memory one chunk and the KV growth need against the memory available
        (:func:`fastsnn.model.memory.available_memory_bytes`) are checked.

        :param chunk_size: tokens per chunk (a positive int; 512 by default).
        :param progress: called with the number of prompt tokens consumed after each chunk.
        :returns: logits of the last chunk's tokens ``(B, T − chunk_size·⌊(T−1)/chunk_size⌋, vocab)``
            (the last token's logits are ``[:, -1]``).
        :raises FastSNNError: any of the checks above failing.
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
            raise FastSNNError(f"prefill chunk_size must be a positive number of tokens, got {chunk_size!r}")
        input_ids = self.check_ids(input_ids)
        batch, total = input_ids.shape
        cache.check(id(self), batch)
        self.check_length(cache.seen, total)
        check_prefill_memory(self, cache, min(chunk_size, total), total)
        cache.reserve(cache.seen + total)
        hidden = None
        for start in range(0, total, chunk_size):
            hidden = self.hidden(input_ids[:, start : start + chunk_size], cache=cache)
            if progress is not None:
                progress(min(start + chunk_size, total))
        return self.head(self.norm(hidden))

    def loss(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy of ``input_ids (B, T)``."""
        logits = self(input_ids[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), input_ids[:, 1:].reshape(-1))

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        prefill_chunk: int = 512,
        generator: torch.Generator | None = None,
        compile: bool = False,
    ) -> torch.Tensor:
        """Append ``max_new_tokens`` sampled tokens to ``input_ids (B, T)``; ``temperature=0`` is greedy.

        The prompt is streamed into a fresh cache by :meth:`prefill` (chunks of ``prefill_chunk``
        tokens), then :meth:`decode` samples one token at a time from the cache (``compile=True``:
        with the compiled step, see :meth:`decode`). Returns ``(B, T + max_new_tokens)``.

        :raises FastSNNError: a bad sampling setting, prompt or chunk size, or a prompt plus new
            tokens beyond :meth:`length_limit` (before any work, naming the layer).
        """
        check_sampling(max_new_tokens, temperature, top_k, top_p)
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.shape[1] == 0:
            shape = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
            raise FastSNNError(f"generate needs a prompt of shape (batch, time>0), got {shape}")
        total = input_ids.shape[1] + max(0, max_new_tokens - 1)
        limit = self.length_limit()
        if limit is not None and total > limit[0]:
            raise FastSNNError(
                f"prompt of {input_ids.shape[1]} tokens + {max_new_tokens} new tokens exceeds "
                f"max_seq_len={limit[0]} ({limit[1]}); shorten the prompt or ask for fewer tokens"
            )
        cache = self.init_cache(input_ids.shape[0])
        cache.reserve(total)
        logits = self.prefill(input_ids, cache, chunk_size=prefill_chunk)
        new = self.decode(logits[:, -1], cache, max_new_tokens, temperature, top_k, top_p, generator,
                          compile=compile)
        return torch.cat([input_ids.long(), new], dim=1)

    @torch.no_grad()
    def decode(
        self,
        last_logits: torch.Tensor,
        cache: ModelCache,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        compile: bool = False,
    ) -> torch.Tensor:
        """Sample ``max_new_tokens`` tokens one at a time, continuing ``cache``.

        :param last_logits: ``(B, vocab)`` logits of the last token the cache has seen (e.g.
            ``model.prefill(...)[:, -1]``); the first new token is drawn from them.
        :param compile: feed each token through :meth:`compiled_decoder` (``torch.compile``; the
            first step compiles, taking seconds to a minute, so it pays off over many tokens) instead
            of the eager forward. The same logits up to float reassociation (which, in a spiking
            model, can rarely flip one spike count); about 2× faster on a CPU.
        :returns: the new tokens ``(B, max_new_tokens)`` (int64). The cache advances by
            ``max_new_tokens − 1`` (the last token is sampled, not fed back).
        :raises FastSNNError: a bad sampling setting, a cache of another model or batch size, or
            (``compile=True``) no C++ compiler or non-finite logits.
        """
        check_sampling(max_new_tokens, temperature, top_k, top_p)
        if not isinstance(last_logits, torch.Tensor) or last_logits.dim() != 2:
            shape = tuple(last_logits.shape) if isinstance(last_logits, torch.Tensor) else type(last_logits).__name__
            raise FastSNNError(f"decode needs the last token's logits of shape (batch, vocab), got {shape}")
        cache.check(id(self), last_logits.shape[0])
        self.check_length(cache.seen, max(0, max_new_tokens - 1))
        step_fn = self.compiled_decoder() if compile and max_new_tokens > 1 else self.__call__
        out = []
        logits = last_logits
        for step in range(max_new_tokens):
            next_token = sample_next(logits, temperature, top_k, top_p, generator)  # (B, 1)
            out.append(next_token)
            if step + 1 < max_new_tokens:
                logits = step_fn(next_token, cache=cache)[:, -1]
        if not out:
            return torch.zeros(last_logits.shape[0], 0, dtype=torch.long, device=last_logits.device)
        return torch.cat(out, dim=1)


def check_sampling(max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Refuse sampling settings :func:`sample_next` cannot honour.

    :raises FastSNNError: ``max_new_tokens < 0``, ``temperature`` negative or NaN, ``top_k <= 0``,
        ``top_p`` outside ``(0, 1]``.
    """
    if max_new_tokens < 0:
        raise FastSNNError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if not temperature >= 0:  # NaN too
        raise FastSNNError(f"temperature must be a number >= 0 (0 is greedy), got {temperature}")
    if top_k is not None and top_k <= 0:
        raise FastSNNError(f"top_k must be positive, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise FastSNNError(f"top_p must be in (0, 1], got {top_p}")


def sample_next(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick one token per row of ``logits (B, V)`` → int64 ``(B, 1)``.

    - ``temperature == 0``: greedy, ``argmax`` (the lowest id among equal largest logits);
      ``top_k`` and ``top_p`` change nothing.
    - Otherwise one draw from ``softmax(logits / temperature)`` (in float64) restricted to a set of
      the most likely tokens, ranked by logit with ties broken towards the lower id (as ``argmax``):

      - ``top_k``: exactly the ``min(top_k, V)`` first tokens of that ranking;
      - ``top_p``: then the smallest prefix of the ranking whose probability (renormalised over
        the ``top_k`` set) reaches ``top_p``, i.e. a token is kept while the mass ranked before it
        is below ``top_p`` (``[0.5, 0.25, 0.25]`` with ``top_p=0.5`` keeps token 0 alone). The
        comparison allows 1e-6 for rounding (logits are usually float32), so a mass of exactly
        ``top_p`` computed a hair low does not add a token. ``top_p=1`` keeps every token; the
        most likely token is always kept.

    Without ``top_k``/``top_p`` the draw is ``torch.multinomial`` over the softmax in id order.
    """
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    scores = logits.double()
    if top_k is None and (top_p is None or top_p >= 1):
        return torch.multinomial((scores / temperature).softmax(-1), 1, generator=generator)
    # rank by logit (invariant to temperature); stable: equal logits keep id order
    ranked, order = torch.sort(scores, dim=-1, descending=True, stable=True)  # (B, V)
    keep = torch.ones_like(ranked, dtype=torch.bool)
    if top_k is not None:
        keep[:, top_k:] = False
    if top_p is not None and top_p < 1:
        probs = (ranked / temperature).masked_fill(~keep, float("-inf")).softmax(-1)
        before = torch.cat([torch.zeros_like(probs[:, :1]), probs.cumsum(-1)[:, :-1]], dim=-1)
        keep &= before < top_p - 1e-6
        keep[:, 0] = True
    allowed = torch.zeros_like(keep).scatter(-1, order, keep)  # back to id order
    probs = (scores / temperature).masked_fill(~allowed, float("-inf")).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator)


def from_pretrained(path: str | Path) -> SpikingLM:
    """Load a :class:`SpikingLM` from a model folder (or a run / checkpoint directory, whose
    ``latest`` step is used), in eval mode.

    The weights' checksum is verified, the saved config is validated against the registry (a
    component whose plugin is missing names the package to install), and every tensor name, shape
    and dtype is checked.

    :raises FastSNNError: any of those checks failing, naming the file.
    """
    meta, tensors, folder = read_model_folder(path)
    return model_from_files(meta, tensors, f"{folder}/config.json", f"{folder}/model.safetensors")


def model_from_files(meta: dict[str, Any], tensors: dict[str, torch.Tensor], config_source: str,
                     weights_source: str) -> SpikingLM:
    """Build the :class:`SpikingLM` a model folder's ``config.json`` (``meta``) describes, re-apply its
    recorded quantisation (:mod:`fastsnn.quantize`) and load ``tensors`` into it; in eval mode.

    ``config_source`` / ``weights_source`` name the files in error messages.

    :raises FastSNNError: no model config, a config this environment cannot build (naming the
        package to install), or tensors that do not match the model.
    """
    from fastsnn.quantize import apply_recorded

    model_cfg = meta.get("model")
    if model_cfg is None:
        raise FastSNNError(f"{config_source} has no 'model' config; it was not written for a FastSNN language model")
    try:
        config = ModelConfig.model_validate(model_cfg)
    except ValidationError as err:
        raise FastSNNError(f"{config_source}: the saved model config cannot be built here"
                           f"{missing_component_hint(meta)}:\n" + format_validation_error(err, "model")) from None
    model = apply_recorded(SpikingLM(config), meta.get("quantization"), config_source)
    load_into(model, tensors, source=weights_source)
    return model.eval()


def build_model(config: ModelConfig | dict, seed: int | None = None) -> SpikingLM:
    """Build a :class:`SpikingLM` from a config (or a dict validated as one).

    :param seed: with a seed the initial weights depend on it alone (the global RNG is left as it
        was); ``None`` draws from the global RNG.
    """
    if not isinstance(config, ModelConfig):
        config = ModelConfig.model_validate(config)
    if seed is None:
        return SpikingLM(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SpikingLM(config)
