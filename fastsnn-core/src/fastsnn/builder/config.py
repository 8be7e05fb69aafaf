"""``SNNConfig``: the seed API's model config — :class:`fastsnn.config.ModelConfig` under the seed's names.

This package (``fastsnn.builder``) is the compatibility shim for the seed README's imports; new
code uses :mod:`fastsnn.config` and :func:`fastsnn.model.build_model` directly.

>>> cfg = SNNConfig(vocab_size=2000, d_model=128, n_heads=4, n_layers=2, d_ff=256,
...                 attn_kind="hybrid_alt")                                # doctest: +SKIP
>>> cfg.to_model_config().attention.name                                   # doctest: +SKIP
'hybrid_alt'
"""

from __future__ import annotations

from pydantic import AliasChoices, ConfigDict, Field

from fastsnn.config.model import AttentionSpec, ModelConfig


class SNNConfig(ModelConfig):
    """A :class:`~fastsnn.config.ModelConfig` whose ``attention`` may be given as ``attn_kind`` (the
    seed's name): a kernel (``linear``, ``swa``, ``softmax``, ...), a layout (``hybrid_alt``), a
    table with parameters (``{"name": "swa", "window": 256}``) or one entry per layer. Every other
    field is ModelConfig's."""

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)

    attention: AttentionSpec = Field(
        "hybrid_alt", validation_alias=AliasChoices("attn_kind", "attention"),
        description="attention kernel or layout for every layer (seed name: attn_kind)",
    )

    @property
    def attn_kind(self) -> str:
        """The attention name, as the seed API called it."""
        return self.attention.name if not isinstance(self.attention, list) else "per-layer"

    def to_model_config(self) -> ModelConfig:
        """The same config as a plain :class:`~fastsnn.config.ModelConfig`."""
        return ModelConfig.model_validate(self.model_dump())
