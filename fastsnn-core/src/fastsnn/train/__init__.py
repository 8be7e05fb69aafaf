"""Training: the :class:`Trainer` (AdamW, warm-up + cosine, grad clipping, checkpoints)."""

from fastsnn.config.run import TrainConfig
from fastsnn.train.callbacks import Callback, FunctionLogger, PrintLogger
from fastsnn.train.schedule import lr_at
from fastsnn.train.trainer import Trainer, next_token_loss

__all__ = ["Callback", "FunctionLogger", "PrintLogger", "TrainConfig", "Trainer", "lr_at", "next_token_loss"]
