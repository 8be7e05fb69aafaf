"""ModelConfig: the shape of a spiking language model, with components named by registry."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    field_validator,
    model_validator,
)

from fastsnn.config.refs import AttentionRef, ComponentRef, FFNRef, LayerMixRef, NeuronRef, NormRef
from fastsnn.errors import FastSNNError
from fastsnn.kind_table import DEFAULT_NEURON


def _validate_attention(value: Any) -> Union[ComponentRef, list[ComponentRef]]:
    """A list is one reference per layer; anything else names a kernel or a layout.

    (A plain Union would report each failing branch; this keeps paths like ``attention[3].window``.)
    """
    if isinstance(value, (list, tuple)):
        return TypeAdapter(list[AttentionRef]).validate_python(list(value))
    return LayerMixRef.model_validate(value)


AttentionSpec = Annotated[
    Union[LayerMixRef, list[AttentionRef]],
    PlainValidator(_validate_attention, json_schema_input_type=Union[str, dict, list]),
    PlainSerializer(lambda v: [r.model_dump() for r in v] if isinstance(v, list) else v.model_dump()),
]


class ModelConfig(BaseModel):
    """Embedding → ``n_layers`` × (norm → attention → residual → norm → FFN → residual) → norm → head."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    vocab_size: int = Field(gt=0, description="number of token ids")
    d_model: int = Field(128, gt=0, description="residual stream width")
    n_layers: int = Field(2, gt=0, description="number of blocks")
    n_heads: int = Field(4, gt=0, description="attention heads per layer")
    d_ff: int | None = Field(None, gt=0, description="FFN hidden width (default 4·d_model)")
    max_seq_len: int | None = Field(
        None, gt=0,
        description="longest sequence (prompt + generated tokens) the model accepts; unset: no limit, which "
        "layers whose state does not grow allow (linear, gla, swa, hybrid_alt); a layer that keeps every "
        "token (softmax's KV cache) needs it set and says so")
    attention: AttentionSpec = Field(
        "hybrid_alt",
        description="one attention kernel for all layers, a layout name (hybrid_alt), or one entry per layer",
    )
    softmax_layers: list[int] = Field(default_factory=list, description="layers that use softmax attention instead")
    ffn: FFNRef = Field("pulse", description="feed-forward block")
    neuron: NeuronRef | None = Field(
        DEFAULT_NEURON,
        description="spiking activation inside the FFN; 'none' (or null): no neuron, the FFN's hidden state "
        "passes unchanged (a non-spiking model, which needs no neuron package installed)")
    norm: NormRef = Field("rmsnorm", description="normalisation layer")
    position_embedding: Literal["none", "learned"] = Field(
        "none", description="'learned': a table of max_seq_len position vectors added to the token embeddings "
        "(GPT-2; then turn RoPE off in the attention layers that have it); 'none': positions come from the "
        "attention layers (RoPE) alone")
    tie_embeddings: bool = Field(True, description="share the input embedding and output head weights")
    init_std: float = Field(0.02, gt=0, description="std of the normal weight init")

    @field_validator("neuron", mode="before")
    @classmethod
    def _none_means_no_neuron(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.lower() == "none" else value

    @model_validator(mode="after")
    def _check_shapes(self) -> ModelConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
        if isinstance(self.attention, list) and len(self.attention) != self.n_layers:
            raise ValueError(f"attention lists {len(self.attention)} layers but n_layers is {self.n_layers}")
        if self.position_embedding == "learned" and self.max_seq_len is None:
            raise ValueError("position_embedding='learned' needs max_seq_len (the table has one row per position)")
        bad = [i for i in self.softmax_layers if not 0 <= i < self.n_layers]
        if bad:
            raise ValueError(f"softmax_layers {bad} out of range for n_layers={self.n_layers}")
        return self

    @property
    def ffn_width(self) -> int:
        return self.d_ff or 4 * self.d_model

    def layer_attention(self) -> list[ComponentRef]:
        """One attention reference per layer (layouts expanded, softmax_layers applied)."""
        if isinstance(self.attention, list):
            refs = list(self.attention)
        elif self.attention.kind == "layout":
            raw = self.attention.build(n_layers=self.n_layers)
            if len(raw) != self.n_layers:
                raise FastSNNError(
                    f"layout {self.attention.name!r} returned {len(raw)} layers for n_layers={self.n_layers}"
                )
            refs = [AttentionRef.model_validate(r) for r in raw]
        else:
            refs = [self.attention] * self.n_layers
        for i in self.softmax_layers:
            refs[i] = AttentionRef.model_validate("softmax")
        return refs

    def summary(self) -> dict[str, Any]:
        return self.model_dump()
