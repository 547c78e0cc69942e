"""TensorBoard: the logs as TensorBoard scalars, written with the `tensorboard`
package (an optional extra, `pip install tensorboard`; no TensorFlow needed)."""
from __future__ import annotations

import os
import time

import numpy as np

from ..distribution.distribution_lib import writes_files
from .callback import Callback


def _writer_module():
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise ImportError("The TensorBoard callback needs the `tensorboard` package "
                          "(pip install tensorboard); TensorFlow is not needed") from None
    return EventFileWriter, event_pb2, summary_pb2


class TensorBoard(Callback):
    """Writes the epoch logs (and, with `update_freq='batch'` or an int N, the batch
    logs every N batches) as scalars under `log_dir/train` and `log_dir/validation`,
    named as Keras names them ('epoch_loss', 'epoch_accuracy', 'batch_loss', and
    'evaluation_loss_vs_iterations' after each validation). minigrad writes scalars
    only: histograms, images, embeddings and profiles raise NotImplementedError;
    the model graph is not written (`write_graph` is accepted and does nothing)."""

    def __init__(self, log_dir: str = "logs", histogram_freq: int = 0,
                 write_graph: bool = True, write_images: bool = False,
                 write_steps_per_second: bool = False, update_freq="epoch",
                 profile_batch=0, embeddings_freq: int = 0, embeddings_metadata=None):
        super().__init__()
        self._modules = _writer_module()
        unsupported = {"histogram_freq": histogram_freq, "write_images": write_images,
                       "profile_batch": profile_batch, "embeddings_freq": embeddings_freq,
                       "embeddings_metadata": embeddings_metadata}
        asked = sorted(k for k, v in unsupported.items() if v not in (0, False, None))
        if asked:
            raise NotImplementedError(f"TensorBoard: {asked} are not supported by minigrad "
                                      f"(it writes scalars only); leave them at their defaults")
        if update_freq not in ("epoch", "batch") and (
                isinstance(update_freq, bool) or not isinstance(update_freq, int) or
                update_freq < 1):
            raise ValueError(f"TensorBoard: `update_freq` must be 'epoch', 'batch' or a positive "
                             f"int, got {update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.write_graph, self.write_steps_per_second = write_graph, write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers: dict = {}
        self._train_step = 0
        self._epoch_start = 0.0

    def _write(self, which: str, scalars: dict, step: int) -> None:
        if not writes_files():  # under data parallelism rank 0 writes the logs
            return
        writer_cls, event_pb2, summary_pb2 = self._modules
        if which not in self._writers:
            folder = os.path.join(self.log_dir, which)
            os.makedirs(folder, exist_ok=True)
            self._writers[which] = writer_cls(folder)
        values = [summary_pb2.Summary.Value(tag=tag, simple_value=float(np.asarray(v).reshape(())))
                  for tag, v in scalars.items() if np.asarray(v).size == 1]
        self._writers[which].add_event(event_pb2.Event(
            wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=values)))

    def on_train_begin(self, logs=None):
        self._train_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._train_step += 1
        if self.update_freq != "epoch" and self._train_step % self.update_freq == 0:
            self._write("train", {f"batch_{k}": v for k, v in (logs or {}).items()},
                        self._train_step)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {f"epoch_{k}": v for k, v in logs.items() if not k.startswith("val_")}
        if self.write_steps_per_second:
            train["epoch_steps_per_second"] = self._train_step / max(
                time.perf_counter() - self._epoch_start, 1e-9)
        self._write("train", train, epoch)
        val = {f"epoch_{k[4:]}": v for k, v in logs.items() if k.startswith("val_")}
        if val:
            self._write("validation", val, epoch)
            if "val_loss" in logs:
                self._write("validation", {"evaluation_loss_vs_iterations": logs["val_loss"]},
                            self._train_step)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
