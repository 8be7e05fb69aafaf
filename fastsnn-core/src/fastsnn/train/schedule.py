"""The learning-rate schedule: linear warm-up, then cosine decay to ``min_lr_ratio · lr``."""

from __future__ import annotations

import math

from fastsnn.config.run import TrainConfig


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``config.max_steps``.

    - warm-up (``step < warmup_steps``): ``lr · (step + 1) / warmup_steps``;
    - then ``lr · (r + (1 - r) · ½(1 + cos(π · p)))`` with ``r = min_lr_ratio`` and
      ``p = (step - warmup_steps) / (max_steps - warmup_steps)`` (clamped to [0, 1]).

    It depends on the step number only, so a resumed run follows exactly the same schedule.
    """
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    decay_steps = max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, max(0.0, (step - config.warmup_steps) / decay_steps))
    ratio = config.min_lr_ratio
    return config.lr * (ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
