"""fit, evaluate and predict under `minigrad.distribution.DataParallel` with more
than one process: the trainer's side of data parallelism.

Every process holds the whole model and runs the same loop over the same global
batches (the same shuffle: rank 0's random state is broadcast when fit starts);
each computes rows [lo, hi) of every batch, its shard. A training step then
sends one Allreduce over one flat buffer holding

- every trainable weight's gradient, times this shard's share of the batch
  (hi - lo) / n, so that the sum is the gradient of the loss averaged over the
  whole batch (Keras's default reduction, `sum_over_batch_size`);
- what the step added to every metric's state (the loss trackers' totals and
  counts, accuracy's counts, ...), so that every process logs the metrics of the
  whole batch (metric states are sums, Keras's default aggregation);
- the state weights that layers update while training (BatchNormalization's
  moving statistics), averaged, so that the processes stay identical;

and the optimizer then steps identically on every process. Dropout masks are
keyed on the global sample index (`minigrad.random.batch_shard`): N processes
give one process's result up to float32 summation order. evaluate shards the
batches and reduces the metrics the same way; predict shards the batches and
gathers the outputs, so every process returns the whole result.
"""
from __future__ import annotations

import time

import numpy as np

from .. import random, tree
from ..backends import get_backend
from ..distribution import distribution_lib, sync
from ..distribution.flat_buffer import FlatBuffer


def replicas_for(model) -> "Replicas | None":
    """The data-parallel helper when a DataParallel distribution spans several
    processes; None otherwise (fit runs as on one process)."""
    d = distribution_lib.distribution()
    if not isinstance(d, distribution_lib.DataParallel) or d.num_processes < 2:
        return None
    return Replicas(model, d)


class Replicas:
    """One fit/evaluate/predict call's data parallelism (see the module docstring)."""

    def __init__(self, model, dist):
        self.model, self.dist, self.group = model, dist, dist.group
        self.rank, self.size = self.group.rank, self.group.size
        self._buffer = None

    # ----------------------------------------------------------------- start
    def start(self, training: bool, **agree) -> None:
        """Check that every process has the same model (and `agree`: batch size,
        batches per epoch, ...), then give every process rank 0's weights and,
        for fit, its optimizer state, random state and initial epoch."""
        from .. import __version__
        m = self.model
        opt = m.optimizer
        sync.check_same(self.group, {
            "minigrad": __version__, "model": type(m).__name__,
            "weights": [[w.name, list(w.shape), str(w.dtype), bool(w.trainable)]
                        for w in m.weights],
            "optimizer": None if opt is None or not training else type(opt).__name__,
            **agree})
        m.set_weights(sync.broadcast_arrays(self.group, m.get_weights()))
        if not training:
            return
        iterations, slots = opt.get_state()
        state = self.group.broadcast_object(
            {"iterations": iterations, "slots": slots, "random": m._random_states(),
             "initial_epoch": m._initial_epoch}, what="training state")
        if self.rank != 0:
            opt.set_state(state["iterations"], state["slots"], m._train_weights())
            m._set_random_states(state["random"])
            m._initial_epoch = state["initial_epoch"]

    # ------------------------------------------------------------------ steps
    def bounds(self, n: int) -> tuple:
        """This process's rows [lo, hi) of a batch of n (contiguous, sizes differ by
        at most one)."""
        return n * self.rank // self.size, n * (self.rank + 1) // self.size

    def shard(self, arrays, lo: int, hi: int):
        """Rows [lo, hi) of a batch's arrays (a list, None, or one array)."""
        if arrays is None:
            return None
        return [a[lo:hi] for a in arrays] if isinstance(arrays, list) else arrays[lo:hi]

    def step(self, batch, training: bool) -> dict:
        """One global batch: this process's shard through the model, then one
        Allreduce (gradients, metric updates, layer state), then the optimizer."""
        m = self.model
        n = len(batch[0][0])
        lo, hi = self.bounds(n)
        variables = [v for metric in m.metrics for v in metric.variables]
        before = [np.array(v.numpy(), copy=True) for v in variables]
        weights = m._train_weights() if training else []
        grads = [None] * len(weights)
        if hi > lo:
            with random.batch_shard(lo, hi - lo):
                local = tuple(self.shard(part, lo, hi) for part in batch)
                total, values, preds, fused = m._forward_loss(local, training)
                if training:
                    for w in weights:
                        w.grad = None
                    total.backward()
                    grads = [None if w.grad is None else w.grad.data for w in weights]
                    for w in weights:
                        w.grad = None
                m._update_metrics(local, total, values, preds, fused)
                total = values = preds = local = None
        deltas = [np.asarray(v.numpy()) - b for v, b in zip(variables, before)]
        if training:
            deltas = self._train_reduce(weights, grads, (hi - lo) / n, deltas)
        else:
            summed = np.concatenate([d.reshape(-1) for d in deltas] + [np.zeros(0)]
                                    ).astype(np.float64)
            self.group.allreduce_(summed, "metrics")
            deltas = _split(summed, deltas)
        for v, b, d in zip(variables, before, deltas):
            v.assign(b + d.astype(b.dtype))
        if n < self.size and training:
            # a process with no rows drew no dropout seeds: take rank 0's stream
            m._set_random_states(self.group.broadcast_object(m._random_states()))
        return m._logs()

    def _train_reduce(self, weights: list, grads: list, share: float, deltas: list) -> list:
        """The Allreduce of a training step, then the optimizer; the summed deltas."""
        state = self._state_weights()
        sizes = sum(d.size for d in deltas) + sum(w.size for w in state)
        if self._buffer is None or self._buffer.extra.size != sizes:
            self._buffer = FlatBuffer(weights, extra=sizes)
        buf = self._buffer
        buf.collect(grads, scale=share)
        k = sum(d.size for d in deltas)
        buf.extra[:k] = np.concatenate([d.reshape(-1) for d in deltas] + [np.zeros(0)])
        at = k
        for w in state:
            buf.extra[at:at + w.size] = get_backend(w.device).to_numpy(w.data).reshape(-1)
            at += w.size
        start = time.perf_counter()
        buf.allreduce(self.group)
        self.dist.stats["allreduce_seconds"] += time.perf_counter() - start
        self.dist.stats["steps"] += 1
        self.dist.stats["bytes_per_step"] = buf.nbytes
        summed = _split(buf.extra[:k].astype(np.float64), deltas)
        at = k
        for w in state:
            mean = buf.extra[at:at + w.size] * buf.dtype.type(1.0 / self.size)
            w.assign(mean.reshape(w.shape).astype(w.dtype))
            at += w.size
        self.model.optimizer.apply(buf.gradients(), weights)
        return summed

    def _state_weights(self) -> list:
        """Weights that layers update while training (not by gradients): those made
        non-trainable in layers that are trainable (BatchNormalization's moving mean
        and variance; a frozen layer's weights never change, so they are left out)."""
        return [w for layer in self.model._flatten_layers(include_self=True)
                if layer.trainable for w in layer._weights
                if not w._created_trainable]

    # ---------------------------------------------------------------- predict
    def gather(self, outs: list) -> list:
        """Every process's per-batch outputs (None: no rows there), joined batch by
        batch in rank order: the outputs of the whole data, on every process."""
        parts = self.group.allgather_object(outs, "predict outputs")
        joined = []
        for step in range(len(outs)):
            pieces = [p[step] for p in parts if p[step] is not None]
            flat = [np.concatenate(leaves) for leaves in
                    zip(*[tree.flatten(p) for p in pieces])]
            joined.append(flat[0] if isinstance(pieces[0], np.ndarray) else
                          tree.pack_sequence_as(pieces[0], flat))
        return joined


def _split(flat: np.ndarray, like: list) -> list:
    """`flat` cut into arrays of the shapes of `like`."""
    out, at = [], 0
    for a in like:
        out.append(flat[at:at + np.size(a)].reshape(np.shape(a)))
        at += np.size(a)
    return out
