"""The one place ``transformers`` is imported (lazily, with the install hint when it is missing)."""

from __future__ import annotations

from types import ModuleType

from fastsnn.errors import FastSNNError

INSTALL_HINT = 'pip install "fastsnn-convert[hf]"'


def require_transformers() -> ModuleType:
    """``import transformers``, or a FastSNNError saying how to install it."""
    try:
        import transformers
    except ImportError as err:
        raise FastSNNError(f"Hugging Face conversion needs the transformers package ({err}); "
                           f"install it with: {INSTALL_HINT}") from None
    return transformers


def conv1d_class() -> type | None:
    """``transformers.pytorch_utils.Conv1D`` (GPT-2's transposed linear layer), or None if absent."""
    require_transformers()
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - every transformers release we support has it
        return None
    return Conv1D
