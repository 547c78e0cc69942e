"""Data-parallel training over processes, under Keras 3's `keras.distribution` names.

```python
mg.distribution.initialize()                  # under mpiexec -n N (or: num_processes=N,
                                              # started alone: forks N processes here)
mg.distribution.set_distribution(mg.distribution.DataParallel())
```
Without mpiexec (or without mpi4py) and without `num_processes`, this is one
process and nothing changes.
"""
from .distribution_lib import (DataParallel, DeviceMesh, Distribution,  # noqa: F401
                               distribution, initialize, list_devices, num_processes,
                               process_id, set_distribution)
from .flat_buffer import FlatBuffer  # noqa: F401
from .process_group import ProcessGroup, group  # noqa: F401
