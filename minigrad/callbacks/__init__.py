"""Keras 3's callbacks: the `Callback` base with every hook, `CallbackList`, and
History, ProgbarLogger, EarlyStopping, ModelCheckpoint, BackupAndRestore,
ReduceLROnPlateau, LearningRateScheduler, CSVLogger, LambdaCallback,
TerminateOnNaN and TensorBoard (with the optional `tensorboard` package)."""
from .callback import Callback, CallbackList  # noqa: F401
from .logging import (CSVLogger, History, LambdaCallback, LearningRateScheduler,  # noqa: F401
                      ProgbarLogger, TerminateOnNaN)
from .model_checkpoint import BackupAndRestore, ModelCheckpoint  # noqa: F401
from .monitor import EarlyStopping, MonitorCallback, ReduceLROnPlateau  # noqa: F401
from .tensorboard import TensorBoard  # noqa: F401
