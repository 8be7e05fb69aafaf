"""SpikingLM: embedding → blocks (attention + spiking FFN) → norm → head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch import nn
from torch.nn import functional as F

from fastsnn.config.model import ModelConfig
from fastsnn.config.refs import ComponentRef
from fastsnn.errors import FastSNNError, format_validation_error
from fastsnn.model.cache import ModelCache
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
        self.ffn = config.ffn.build(d_model=d, d_ff=config.ffn_width, neuron=config.neuron.build())

    def forward(self, x: torch.Tensor, cache: Any = None) -> torch.Tensor:  # x: (B, T, d)
        x = x + self.attn(self.attn_norm(x), cache)
        return x + self.ffn(self.ffn_norm(x))


class SpikingLM(nn.Module):
    """A causal language model whose FFN activations are spiking neurons."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.layer_attention = config.layer_attention()
        self.blocks = nn.ModuleList(Block(config, i, ref) for i, ref in enumerate(self.layer_attention))
        self.norm = config.norm.build(dim=config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        if config.tie_embeddings:
            self.head.weight = self.embed.weight

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

    # -- decoding state --------------------------------------------------------------------
    def init_cache(self, batch_size: int) -> ModelCache:
        """An empty cache for ``batch_size`` sequences (O(1) for linear attention, O(W) for SWA)."""
        if batch_size <= 0:
            raise FastSNNError(f"batch_size must be positive, got {batch_size}")
        param = next(self.parameters())
        layers = [b.attn.init_cache(batch_size, device=param.device, dtype=param.dtype) for b in self.blocks]
        return ModelCache(layers=layers, batch_size=batch_size, owner_id=id(self))

    # -- forward ----------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, cache: ModelCache | None = None) -> torch.Tensor:
        """``input_ids (B, T)`` → logits ``(B, T, vocab)``. With ``cache``, continue from it and advance it."""
        input_ids = self.check_ids(input_ids)
        B, T = input_ids.shape
        if cache is not None:
            cache.check(id(self), B, T, self.config.max_seq_len)
        elif T > self.config.max_seq_len:
            raise FastSNNError(f"sequence of {T} tokens is longer than max_seq_len={self.config.max_seq_len}")
        x = self.embed(input_ids)  # (B, T, d)
        for i, block in enumerate(self.blocks):
            x = block(x, None if cache is None else cache.layers[i])
        if cache is not None:
            cache.seen += T
        return self.head(self.norm(x))  # (B, T, vocab)

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

    def prefill(self, input_ids: torch.Tensor, cache: ModelCache, chunk_size: int = 512) -> torch.Tensor:
        """Feed a (long) prompt ``input_ids (B, T)`` into ``cache`` ``chunk_size`` tokens at a time.

        Returns the logits of the last chunk ``(B, min(T, chunk_size), vocab)``; peak activation
        memory is bounded by the chunk, and the result equals one call on the whole prompt.
        """
        if chunk_size <= 0:
            raise FastSNNError(f"prefill chunk_size must be positive, got {chunk_size}")
        if input_ids.dim() != 2 or input_ids.shape[1] == 0:
            raise FastSNNError(f"prefill needs input_ids of shape (batch, time>0), got {tuple(input_ids.shape)}")
        cache.check(id(self), input_ids.shape[0], input_ids.shape[1], self.config.max_seq_len)
        logits = None
        for start in range(0, input_ids.shape[1], chunk_size):
            logits = self(input_ids[:, start : start + chunk_size], cache=cache)
        return logits

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
    ) -> torch.Tensor:
        """Append ``max_new_tokens`` sampled tokens to ``input_ids (B, T)``; ``temperature=0`` is greedy.

        The prompt is prefilled in chunks of ``prefill_chunk`` tokens, then tokens are decoded one
        at a time from the cache.
        """
        if max_new_tokens < 0:
            raise FastSNNError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        if not temperature >= 0:  # NaN too
            raise FastSNNError(f"temperature must be a number >= 0 (0 is greedy), got {temperature}")
        if top_k is not None and top_k <= 0:
            raise FastSNNError(f"top_k must be positive, got {top_k}")
        if top_p is not None and not 0 < top_p <= 1:
            raise FastSNNError(f"top_p must be in (0, 1], got {top_p}")
        if input_ids.dim() != 2 or input_ids.shape[1] == 0:
            raise FastSNNError(f"generate needs a prompt of shape (batch, time>0), got {tuple(input_ids.shape)}")
        total = input_ids.shape[1] + max(0, max_new_tokens - 1)
        if total > self.config.max_seq_len:
            raise FastSNNError(
                f"prompt of {input_ids.shape[1]} tokens + {max_new_tokens} new tokens exceeds "
                f"max_seq_len={self.config.max_seq_len}; shorten the prompt or ask for fewer tokens"
            )
        cache = self.init_cache(input_ids.shape[0])
        logits = self.prefill(input_ids, cache, chunk_size=prefill_chunk)
        out = [input_ids]
        for step in range(max_new_tokens):
            next_token = sample_next(logits[:, -1], temperature, top_k, top_p, generator)  # (B, 1)
            out.append(next_token)
            if step + 1 < max_new_tokens:
                logits = self(next_token, cache=cache)
        return torch.cat(out, dim=1)


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
