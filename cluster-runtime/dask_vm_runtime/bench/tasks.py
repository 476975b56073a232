"""The functions the workers run. They are pickled by reference (module + name), so every
worker must be able to import dask_vm_runtime.bench.tasks: the runtime bundle installs it
on every node. Only the standard library and numpy at import time; distributed is imported
inside the few functions that ask the worker about itself."""

from __future__ import annotations

import hashlib
import math
import os
import platform
import socket
import sys
import time
from typing import Any

import numpy as np

# What this process imported: a worker started before the runtime was updated keeps
# running the old functions, and cluster.check_code() refuses to measure it. ratings.py
# holds the svd-ratings workload's worker functions.
_hash = hashlib.sha256()
for _name in (__file__, os.path.join(os.path.dirname(__file__), "ratings.py")):
    with open(_name, "rb") as _f:
        _hash.update(_f.read())
CODE_SHA256 = _hash.hexdigest()
del _hash, _name, _f

# --- inc-sleep (seed 1) ----------------------------------------------------------------


def inc(x: int, delay: float = 1.0) -> int:
    """The seed's ``inc``: sleep, then add one. ``delay`` is 1 s in the full-size run."""
    time.sleep(delay)
    return x + 1


# --- map-reduce (seed 2) ---------------------------------------------------------------


def square(x: int) -> int:
    return x**2


def neg(x: int) -> int:
    return -x


def neg_square_sum(chunk: range) -> int:
    """One partition of the batched variant: the seed's square then neg on every item of
    the chunk, summed, in one task instead of 2·len(chunk)."""
    return sum(neg(square(x)) for x in chunk)


# --- placement (seed 2, the Dispy observation) -----------------------------------------


def sleep_on_worker(i: int, delay: float) -> str:
    """Sleeps, then says which worker ran it."""
    from distributed import get_worker

    time.sleep(delay)
    return get_worker().address


# --- warm-up ---------------------------------------------------------------------------


def touch(*values: Any) -> int:
    """Depends on values held by other workers, so running it opens worker-to-worker
    connections (and imports this module) before anything is timed."""
    return len(values)


def token(i: int) -> int:
    return i


# --- what the workers report -----------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(dask_worker: Any) -> dict[str, Any]:
    """This worker's threads, memory limit, CPUs and software (via client.run)."""
    import dask
    import distributed
    import psutil

    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count() or 0
    return {
        "name": str(dask_worker.name),
        "hostname": socket.gethostname(),
        "nthreads": int(dask_worker.state.nthreads),
        "memoryLimitBytes": int(dask_worker.memory_manager.memory_limit or 0),
        "cpuCount": int(os.cpu_count() or 0),
        "cpuAffinity": int(affinity),
        "cpuModel": _cpu_model(),
        "totalMemoryBytes": int(psutil.virtual_memory().total),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "numpy": np.__version__,
        "pid": os.getpid(),
    }


def code_sha256(dask_worker: Any = None, dask_scheduler: Any = None) -> str:
    return CODE_SHA256


def memory_report(dask_worker: Any) -> dict[str, int]:
    """The worker process's peak RSS since it started (Linux getrusage) and the bytes it
    has spilled to disk since it started, to show that a case stayed within memory."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024
    spilled = 0
    for key, value in dask_worker.digests_total.items():
        if isinstance(key, tuple) and "disk-write" in key and key[-1] == "bytes":
            spilled += int(value)
    return {"maxRssBytes": int(peak_bytes), "spilledBytes": spilled}


# --- svd (seed 2) ----------------------------------------------------------------------


def _orthonormal_slab(seed: int, side: int, index: int, rows: int, rank: int, nblocks: int) -> np.ndarray:
    """Rows of U (side 0) or V (side 1) that belong to block ``index``: an orthonormal
    rows × rank matrix from a seeded Gaussian, divided by sqrt(nblocks). Stacking the
    slabs of all blocks gives a matrix whose columns are exactly orthonormal (each slab
    contributes I/nblocks to UᵀU), so the planted singular values are exact."""
    rng = np.random.default_rng([seed, side, index])
    q, r = np.linalg.qr(rng.standard_normal((rows, rank)))
    q *= np.sign(np.diag(r))
    q /= math.sqrt(nblocks)
    return q


def planted_block(seed: int, singular_values: tuple[float, ...], noise: float, block_info: Any = None) -> np.ndarray:
    """Block (i, j) of X = U·diag(s)·Vᵀ + noise, made from its seeds alone: no other block
    and no part of X exists anywhere else. The noise is i.i.d. uniform with mean 0 and
    standard deviation ``noise``: its spectral norm is ≈ noise·(sqrt(m) + sqrt(n)), as for
    Gaussian noise, and it is three times cheaper to draw, which is most of the work."""
    info = block_info[None]
    i, j = info["chunk-location"]
    rows, cols = info["chunk-shape"]
    nrow_blocks, ncol_blocks = info["num-chunks"]
    rank = len(singular_values)
    u = _orthonormal_slab(seed, 0, i, rows, rank, nrow_blocks)
    v = _orthonormal_slab(seed, 1, j, cols, rank, ncol_blocks)
    block = (u * np.asarray(singular_values)) @ v.T
    if noise:
        # Row slabs into one small buffer: the peak is one block plus a slab, not two blocks.
        rng = np.random.default_rng([seed, 2, i, j])
        width = 2 * math.sqrt(3) * noise  # uniform on [-width/2, width/2) has std = noise
        slab = max(1, (1 << 20) // max(cols, 1))
        buf = np.empty((slab, cols))
        for r0 in range(0, rows, slab):
            part = buf[: min(slab, rows - r0)]
            rng.random(out=part)
            part -= 0.5
            part *= width
            block[r0 : r0 + part.shape[0]] += part
    return block


# --- asked of the scheduler (client.run_on_scheduler) ----------------------------------


def _not_kept(tasks: dict[Any, Any], keep: list[Any]) -> int:
    """Tasks of a scheduler's or worker's table, not counting ``keep`` nor the released
    inputs of a kept task, however far down: both keep those as long as the task they fed
    (the scheduler for its lineage), such as the bytes and parsed ranges of a ratings file
    under the blocks kept for the run."""
    kept = set(keep)
    feeds: dict[Any, bool] = {}

    def feeds_kept(ts: Any) -> bool:
        if ts.key not in feeds:
            feeds[ts.key] = False  # a cycle cannot feed anything
            feeds[ts.key] = any(d.key in kept or (d.state == "released" and feeds_kept(d)) for d in ts.dependents)
        return feeds[ts.key]

    return sum(1 for key, ts in tasks.items() if key not in kept and not (ts.state == "released" and feeds_kept(ts)))


def scheduler_task_count(keep: list[Any], dask_scheduler: Any) -> int:
    """Tasks the scheduler holds, not counting ``keep`` (data the benchmark keeps on
    purpose, such as a ratings file's blocks) and what feeds it."""
    return _not_kept(dask_scheduler.tasks, keep)


def worker_task_count(keep: list[Any], dask_worker: Any) -> int:
    """Tasks the worker still knows about (being released, freed, forgotten), not
    counting ``keep`` and what feeds it."""
    return _not_kept(dask_worker.state.tasks, keep)


def has_scheduler_plugin(name: str, dask_scheduler: Any) -> bool:
    return name in dask_scheduler.plugins


def remove_scheduler_plugin(name: str, dask_scheduler: Any) -> None:
    if name in dask_scheduler.plugins:
        dask_scheduler.remove_plugin(name=name)


def worker_saturation(dask_scheduler: Any) -> str:
    """distributed.scheduler.worker-saturation as the scheduler runs with it ("1.1",
    "inf"): it decides how many tasks a worker holds at once, hence the per-item rate."""
    return repr(float(dask_scheduler.WORKER_SATURATION))
