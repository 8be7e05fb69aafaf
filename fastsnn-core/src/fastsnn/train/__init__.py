"""Training: the :class:`Trainer` (AdamW, warm-up + cosine, clipping, accumulation, autocast,
evaluation, spike statistics, DDP/FSDP, checkpoints) and its callbacks."""

from fastsnn.config.run import SpikeRegularizer, TrainConfig
from fastsnn.train.callbacks import (
    Callback,
    FunctionLogger,
    JSONLLogger,
    PrintLogger,
    ProgressBar,
    TensorBoardLogger,
)
from fastsnn.train.schedule import lr_at
from fastsnn.train.spike_monitor import SpikeMonitor
from fastsnn.train.trainer import NonFiniteLossError, Trainer, next_token_loss

__all__ = ["Callback", "FunctionLogger", "JSONLLogger", "NonFiniteLossError", "PrintLogger", "ProgressBar",
           "SpikeMonitor", "SpikeRegularizer", "TensorBoardLogger", "TrainConfig", "Trainer", "lr_at",
           "next_token_loss"]
