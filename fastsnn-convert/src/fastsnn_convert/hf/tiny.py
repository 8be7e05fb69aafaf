"""Tiny randomly initialised Hugging Face models (no download), for tests, docs and quick trials.

Each builder returns a model in eval mode whose weights are redrawn with a large std (0.2): with
transformers' default init (0.02) every block is nearly the identity, and a wrong weight mapping
would hide in the residual stream. Needs ``transformers`` (``pip install "fastsnn-convert[hf]"``).
"""

from __future__ import annotations

import torch

from fastsnn_convert.hf.lazy import require_transformers

VOCAB = 101
SMALL = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4)


def spread(model: torch.nn.Module, std: float = 0.2, seed: int = 0) -> torch.nn.Module:
    """Redraw every weight: matrices and biases with ``std``, norm gains near 1; eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "ln_" in name or "LayerNorm" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen) if p.dim() == 1 and "bias" not in name
                        else 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(std * torch.randn(p.shape, generator=gen))
    return model.eval()


def llama(**overrides) -> torch.nn.Module:
    """A 2-layer Llama causal LM (GQA: 4 query heads, 2 key/value heads)."""
    torch.manual_seed(0)
    config = require_transformers().LlamaConfig(**{**SMALL, "num_key_value_heads": 2, **overrides})
    return spread(require_transformers().LlamaForCausalLM(config))


def qwen2(**overrides) -> torch.nn.Module:
    """A 2-layer Qwen2 causal LM (biases in q, k, v)."""
    torch.manual_seed(0)
    config = require_transformers().Qwen2Config(**{**SMALL, "num_key_value_heads": 2, **overrides})
    return spread(require_transformers().Qwen2ForCausalLM(config))


def mistral(**overrides) -> torch.nn.Module:
    """A 2-layer Mistral causal LM with a sliding window of 6 tokens."""
    torch.manual_seed(0)
    config = require_transformers().MistralConfig(**{**SMALL, "num_key_value_heads": 2, "sliding_window": 6, **overrides})
    return spread(require_transformers().MistralForCausalLM(config))


def gpt2(**overrides) -> torch.nn.Module:
    """A 2-layer GPT-2 LM (Conv1D layers, learned positions, 64 of them)."""
    torch.manual_seed(0)
    config = require_transformers().GPT2Config(**{"vocab_size": VOCAB, "n_embd": 32, "n_layer": 2, "n_head": 4,
                                                  "n_positions": 64, "bos_token_id": 0, "eos_token_id": 0, **overrides})
    return spread(require_transformers().GPT2LMHeadModel(config))


def bert(**overrides) -> torch.nn.Module:
    """A 2-layer BERT encoder (``BertModel``, with its pooler)."""
    torch.manual_seed(0)
    return spread(require_transformers().BertModel(require_transformers().BertConfig(**{**SMALL, **overrides})))


def opt() -> torch.nn.Module:
    """An architecture FastSNN does not convert."""
    torch.manual_seed(0)
    config = require_transformers().OPTConfig(vocab_size=VOCAB, hidden_size=16, ffn_dim=32, num_hidden_layers=1,
                                    num_attention_heads=2, word_embed_proj_dim=16, max_position_embeddings=32)
    return require_transformers().OPTForCausalLM(config).eval()


TEXT = ("First Citizen: Before we proceed any further, hear me speak. All: Speak, speak. "
        "You are all resolved rather to die than to famish? Resolved. resolved. café, naïve — 漢字.")


def byte_level_tokenizer(vocab_size: int = 300) -> object:
    """A GPT-2-style byte-level BPE ``tokenizers.Tokenizer`` trained on a few lines (``<|endoftext|>`` special)."""
    import tokenizers as tk

    tokenizer = tk.Tokenizer(tk.models.BPE())
    tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False,
                                     initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([TEXT] * 4, trainer)
    return tokenizer


def sentencepiece_tokenizer(merges_from: int = 40) -> object:
    """A Llama-2-style BPE ``tokenizers.Tokenizer``: ``▁`` for spaces, ``<unk> <s> </s>``, the 256
    ``<0xNN>`` byte-fallback tokens in the vocabulary (ids 3–258), then learned pieces; ``<s>`` added
    in front by the post-processor, the prepended space stripped by the decoder."""
    import json

    import tokenizers as tk

    plain = tk.Tokenizer(tk.models.BPE(unk_token="<unk>"))
    plain.normalizer = tk.normalizers.Sequence([tk.normalizers.Prepend("\u2581"), tk.normalizers.Replace(" ", "\u2581")])
    plain.train_from_iterator([TEXT.replace("漢字", "")] * 4,
                              tk.trainers.BpeTrainer(vocab_size=merges_from + 60, show_progress=False))
    learned = json.loads(plain.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"<0x{b:02X}>": 3 + b for b in range(256)}}
    for token in sorted(learned["vocab"], key=learned["vocab"].get):
        vocab.setdefault(token, len(vocab))
    model = tk.models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
                                               for m in learned["merges"]],
                          unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    tokenizer = tk.Tokenizer(model)
    tokenizer.normalizer = plain.normalizer
    tokenizer.decoder = tk.decoders.Sequence([tk.decoders.Replace("\u2581", " "), tk.decoders.ByteFallback(),
                                              tk.decoders.Fuse(), tk.decoders.Strip(" ", 1, 0)])
    tokenizer.add_special_tokens([tk.AddedToken(t, special=True, normalized=False) for t in ("<unk>", "<s>", "</s>")])
    tokenizer.post_processor = tk.processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return tokenizer


def save_folder(model: torch.nn.Module, tokenizer: object | None, folder) -> object:
    """``model.save_pretrained(folder)`` plus the tokenizer's ``tokenizer.json``: a Hugging Face model
    folder as the Hub would give it (safetensors weights, config.json). Returns the folder."""
    from pathlib import Path

    folder = Path(folder)
    model.save_pretrained(str(folder))
    if tokenizer is not None:
        tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def ids(batch: int = 2, time: int = 13, seed: int = 1) -> torch.Tensor:
    """Random token ids ``[batch, time]`` of the tiny models' vocabulary."""
    return torch.randint(0, VOCAB, (batch, time), generator=torch.Generator().manual_seed(seed))
