"""A caching device allocator, so that a training step allocates nothing new after
the first: numba-cuda's own memory manager, except that a buffer the program
drops is kept and handed out again for the next request of its size class.

Each op makes fresh output arrays (as on the CPU); without this every one of
them would be a cuMemAlloc and, later, a cuMemFree, and a free waits for the
GPU. Reuse is safe because minigrad queues all its work on one stream: a
kernel that writes a reused buffer runs after every kernel that read it before.
Cached buffers go back to the driver when an allocation runs out of memory,
and on `empty_cache()`.
"""
from __future__ import annotations

import weakref

from numba.cuda.cudadrv import driver as drv

ROUND = 512  # bytes: the size classes (cuMemAlloc itself aligns to 256)


def size_class(nbytes: int) -> int:
    return -(-nbytes // ROUND) * ROUND


class CachingMemoryManager(drv.NumbaCUDAMemoryManager):
    """numba-cuda's memory manager with a free list per size class."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.free_blocks: dict = {}   # size class -> [device pointers]
        self.driver_allocs = 0        # cuMemAlloc calls made
        self.reuses = 0               # requests served from the free lists

    def memalloc(self, size):
        block = size_class(size)
        free = self.free_blocks.get(block)
        if free:
            ptr = free.pop()
            self.reuses += 1
        else:
            ptr = self._attempt_allocation(lambda: drv.driver.cuMemAlloc(block))
            self.driver_allocs += 1
        mem = drv.AutoFreePointer(weakref.proxy(self.context), ptr, size,
                                  finalizer=self._keeper(ptr, block))
        self.allocations[ptr] = mem
        return mem.own()

    def _keeper(self, ptr, block):
        """The finalizer of a handed-out buffer: back to the free list, not the driver."""
        allocations, free_blocks = self.allocations, self.free_blocks

        def keep():
            allocations.pop(ptr, None)
            free_blocks.setdefault(block, []).append(ptr)
        return keep

    def _attempt_allocation(self, allocator):
        try:
            return super()._attempt_allocation(allocator)
        except drv.CudaAPIError:
            if not self.cached_bytes():
                raise
            self.empty_cache()  # out of memory, say: give the cache back and try again
            return allocator()

    def cached_bytes(self) -> int:
        return sum(block * len(ptrs) for block, ptrs in self.free_blocks.items())

    def empty_cache(self) -> None:
        """Give every cached (unused) buffer back to the driver."""
        if self.cached_bytes():
            self.context.synchronize()  # no kernel may still be using one
        for ptrs in self.free_blocks.values():
            while ptrs:
                drv.driver.cuMemFree(ptrs.pop())

    def reset(self):
        super().reset()     # drops numba's records, which returns their buffers here,
        self.empty_cache()  # and then to the driver


def install() -> bool:
    """Make numba-cuda use the caching manager for contexts created from now on
    (a context that already exists keeps its manager). Left alone (False) when
    the user chose a memory manager of their own (NUMBA_CUDA_MEMORY_MANAGER or
    numba.cuda.set_memory_manager)."""
    if drv.config.CUDA_MEMORY_MANAGER != "default":
        return False
    if drv._memory_manager not in (None, drv.NumbaCUDAMemoryManager, CachingMemoryManager):
        return False
    drv.set_memory_manager(CachingMemoryManager)
    return True


def manager():
    """The current context's CachingMemoryManager, or None if it uses another one."""
    from numba import cuda
    mm = cuda.current_context().memory_manager
    return mm if isinstance(mm, CachingMemoryManager) else None
