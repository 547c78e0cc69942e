"""The CUDA caching allocator (minigrad/backends/cuda/memory.py) on a stand-in
driver: its bookkeeping runs on numba-cuda's real pointer classes, so this needs
numba-cuda but no GPU. On a GPU, tests/cuda/test_step_allocations.py counts the
real allocator's cuMemAlloc calls over a training run."""
import gc
import os

import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.skip("the simulator replaces numba-cuda's driver module", allow_module_level=True)
# numba itself still ships a deprecated numba.cuda without numba-cuda's driver
# bindings: ask for numba-cuda by name, so a plain install skips instead of erroring
pytest.importorskip("numba_cuda", reason="needs numba-cuda (pip install minigrad[cuda])")
from numba.cuda.cudadrv import driver as drv  # noqa: E402
from minigrad.backends.cuda import memory  # noqa: E402

OOM = drv.binding.CUresult.CUDA_ERROR_OUT_OF_MEMORY


class FakeDriver:
    """cuMemAlloc / cuMemFree on made-up addresses, with a capacity."""

    def __init__(self, capacity=1 << 20):
        self.capacity, self.used, self.next = capacity, {}, 1 << 16
        self.allocs = self.frees = 0

    def cuMemAlloc(self, size):
        if sum(self.used.values()) + size > self.capacity:
            raise drv.CudaAPIError(OOM, "out of memory")
        self.next += 1 << 16
        self.used[self.next] = size
        self.allocs += 1
        return drv.binding.CUdeviceptr(self.next)

    def cuMemFree(self, ptr):
        del self.used[int(ptr)]
        self.frees += 1


class FakeContext:
    synced = 0

    def synchronize(self):
        self.synced += 1


@pytest.fixture
def fake(monkeypatch):
    driver = FakeDriver()
    monkeypatch.setattr(drv, "driver", driver)
    ctx = FakeContext()
    yield driver, ctx, memory.CachingMemoryManager(context=ctx)
    gc.collect()


def test_a_dropped_buffer_is_handed_out_again(fake):
    driver, _, mm = fake
    a = mm.memalloc(1000)
    address = int(a.device_pointer)
    assert driver.allocs == 1 and mm.cached_bytes() == 0
    del a
    assert mm.cached_bytes() == 1024 and driver.frees == 0  # kept, not freed
    b = mm.memalloc(900)  # the same size class
    assert int(b.device_pointer) == address and driver.allocs == 1 and mm.reuses == 1
    c = mm.memalloc(2000)  # another class: a new allocation
    assert int(c.device_pointer) != address and driver.allocs == 2


def test_a_view_keeps_its_buffer_in_use(fake):
    driver, _, mm = fake
    a = mm.memalloc(4096)
    view = a.view(512, 1024)  # what slicing a device array makes
    del a
    assert mm.cached_bytes() == 0
    b = mm.memalloc(4096)  # the first buffer is still in use through the view
    assert driver.allocs == 2
    del view
    assert mm.cached_bytes() == 4096
    del b


def test_steady_state_allocates_nothing(fake):
    driver, _, mm = fake
    for step in range(5):  # a "step": the same sizes each time, all dropped at its end
        held = [mm.memalloc(n) for n in (100, 100, 5000, 70000, 100)]
        if step == 0:
            first = driver.allocs
        del held
    assert driver.allocs == first == 5 and mm.reuses == 20


def test_out_of_memory_gives_the_cache_back_and_retries(fake):
    driver, ctx, mm = fake
    driver.capacity = 3 * 4096
    blocks = [mm.memalloc(4096) for _ in range(3)]
    del blocks
    assert mm.cached_bytes() == 3 * 4096
    big = mm.memalloc(8192)  # only fits once the cached blocks are freed
    assert driver.frees == 3 and ctx.synced == 1 and mm.cached_bytes() == 0
    with pytest.raises(drv.CudaAPIError):
        mm.memalloc(3 * 4096)  # nothing cached to give back: the error stands
    del big


def test_reset_returns_everything_to_the_driver(fake):
    driver, _, mm = fake
    kept = mm.memalloc(100)  # still referenced by the program
    dropped = mm.memalloc(5000)
    del dropped
    mm.reset()
    assert driver.used == {} and driver.frees == 2 and mm.cached_bytes() == 0
    del kept


def test_install_respects_a_manager_the_user_chose(monkeypatch):
    monkeypatch.setattr(drv, "_memory_manager", None)
    monkeypatch.setattr(drv.config, "CUDA_MEMORY_MANAGER", "default")
    assert memory.install() and drv._memory_manager is memory.CachingMemoryManager

    class Theirs(drv.NumbaCUDAMemoryManager):
        pass
    monkeypatch.setattr(drv, "_memory_manager", Theirs)
    assert not memory.install() and drv._memory_manager is Theirs
    monkeypatch.setattr(drv, "_memory_manager", None)
    monkeypatch.setattr(drv.config, "CUDA_MEMORY_MANAGER", "some_plugin_module")
    assert not memory.install() and drv._memory_manager is None
