"""The flat gradient buffer with weights on the GPU: gradients gather into one
device buffer, which crosses to the host once and back once per step (the
staging MPI needs without a CUDA-aware transport). Runs under the simulator."""
import numpy as np

import minigrad as mg
from minigrad.backends import get_backend
from minigrad.distribution import FlatBuffer, group


class CountingGroup:
    """One process that sums like MPI would (the identity) and records the buffer."""

    def __init__(self):
        self.seen = []

    def allreduce_(self, buf, what="allreduce"):
        self.seen.append(buf.copy())
        return buf


def test_gpu_gradients_are_staged_through_one_host_buffer(monkeypatch):
    cuda = get_backend("cuda")
    ws = [mg.Tensor(np.zeros(s, "f4"), requires_grad=True, device="cuda")
          for s in [(3, 2), (4,)]]
    buf = FlatBuffer(ws, extra=1)
    assert buf.staged and not isinstance(buf.flat, np.ndarray)
    g = [np.arange(6, dtype="f4").reshape(3, 2), np.full(4, 3, "f4")]
    downs, ups = [], []
    flat_type = type(buf.flat)
    real_down, real_up = flat_type.copy_to_host, flat_type.copy_to_device
    monkeypatch.setattr(flat_type, "copy_to_host",
                        lambda self, *a, **k: downs.append(self.size) or
                        real_down(self, *a, **k))
    monkeypatch.setattr(flat_type, "copy_to_device",
                        lambda self, *a, **k: ups.append(self.size) or real_up(self, *a, **k))
    buf.collect([cuda.asarray(a) for a in g], scale=0.5)
    recorder = CountingGroup()
    buf.allreduce(recorder)
    # one copy down and one up of the whole gradient buffer (10 floats); the
    # two per-weight device-to-device copies into the buffer are the views'
    assert downs == [10]
    assert ups.count(10) == 1 and sorted(ups) == [4, 6, 10]
    np.testing.assert_array_equal(recorder.seen[0][:10],
                                  np.concatenate([a.reshape(-1) for a in g]) * np.float32(0.5))
    out = buf.gradients()
    assert all(not isinstance(o, np.ndarray) for o in out)   # device views for the optimizer
    np.testing.assert_array_equal(cuda.to_numpy(out[0]), g[0] * np.float32(0.5))
    np.testing.assert_array_equal(cuda.to_numpy(out[1]), g[1] * np.float32(0.5))
    assert group().size == 1
