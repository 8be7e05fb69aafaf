"""``SNNConfig``: the seed API's flat model config, a thin layer over :class:`fastsnn.config.ModelConfig`.

>>> cfg = SNNConfig(vocab_size=2000, d_model=128, n_heads=4, n_layers=2, d_ff=256,
...                 attn_kind="hybrid_alt")                                # doctest: +SKIP
>>> cfg.to_model_config().attention.name                                   # doctest: +SKIP
'hybrid_alt'
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fastsnn.config.model import ModelConfig
from fastsnn.registry import format_validation_error

#: attn_kind values that take the SWA window, and how the window reaches the SWA kernel.
_WINDOWED = {"swa", "hybrid_alt", "hybrid_par"}


class SNNConfig(BaseModel):
    """A spiking LM in one flat table. ``attn_kind`` is one of ``linear``, ``swa``, ``softmax``,
    ``hybrid_alt`` (linear/SWA alternating per layer), ``hybrid_par`` (both in every layer), or
    any other registered attention kernel or layout name."""

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(gt=0, description="number of token ids")
    d_model: int = Field(128, gt=0, description="residual stream width")
    n_heads: int = Field(4, gt=0, description="attention heads per layer")
    n_layers: int = Field(2, gt=0, description="number of blocks")
    d_ff: int | None = Field(None, gt=0, description="FFN hidden width (default 4·d_model)")
    attn_kind: str = Field("hybrid_alt", description="attention kernel or layout for every layer")
    window: int | None = Field(None, gt=0, description="SWA window for swa/hybrid kinds (default: the kernel's)")
    max_seq_len: int = Field(2048, gt=0, description="longest sequence the model accepts")
    softmax_layers: list[int] = Field(default_factory=list, description="layers that use softmax attention instead")
    neuron: Any = Field("adaptive_threshold", description="spiking neuron in the FFN (name or {name=..., ...})")
    ffn: Any = Field("pulse", description="feed-forward block (name or {name=..., ...})")
    norm: Any = Field("rmsnorm", description="normalisation layer")
    tie_embeddings: bool = True

    @model_validator(mode="after")
    def _check(self) -> SNNConfig:
        if self.window is not None and self.attn_kind not in _WINDOWED:
            raise ValueError(f"window applies to attn_kind {sorted(_WINDOWED)}, not {self.attn_kind!r}")
        try:
            self.to_model_config()
        except ValidationError as err:
            raise ValueError("\n" + format_validation_error(err).replace("  attention:", "  attn_kind:")) from None
        return self

    def attention_ref(self) -> str | dict[str, Any]:
        """The ModelConfig ``attention`` entry for ``attn_kind`` (with the SWA window if given)."""
        if self.window is None:
            return self.attn_kind
        swa = {"name": "swa", "window": self.window}
        return swa if self.attn_kind == "swa" else {"name": self.attn_kind, "swa": swa}

    def to_model_config(self) -> ModelConfig:
        """The equivalent :class:`~fastsnn.config.ModelConfig` (validated against the registry)."""
        return ModelConfig(
            vocab_size=self.vocab_size, d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads,
            d_ff=self.d_ff, max_seq_len=self.max_seq_len, attention=self.attention_ref(),
            softmax_layers=self.softmax_layers, ffn=self.ffn, neuron=self.neuron, norm=self.norm,
            tie_embeddings=self.tie_embeddings,
        )
