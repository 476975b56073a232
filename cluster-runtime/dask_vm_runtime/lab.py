"""``python -m dask_vm_runtime lab spread``: who does the work, as a learner sees it.

N small tasks (each sleeps a little and names its worker) submitted at once; the results
that come back within --timeout, counted by worker; for the others, which worker computed
them and holds them (the scheduler knows), or that they are still waiting. On a healthy
cluster every result comes back, spread over the workers; in the NAT trap only node 1's
do: the others were computed, but nobody can fetch them from the address their workers
advertise. Prints JSON; changes nothing that outlives it (its futures are released).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any


def _work(i: int, seconds: float) -> str:
    from distributed import get_worker

    time.sleep(seconds)
    return str(get_worker().name)


def _holders(keys: list[str], dask_scheduler: Any = None) -> dict[str, str]:
    """key → the name of the worker that holds its result, or that runs it, or its state."""
    out = {}
    for key in keys:
        ts = dask_scheduler.tasks.get(key)
        if ts is None:
            out[key] = "forgotten"
        elif ts.who_has:
            out[key] = str(next(iter(ts.who_has)).name)
        elif ts.processing_on is not None:
            out[key] = f"{ts.processing_on.name} (still running)"
        else:
            out[key] = ts.state
    return out


def spread(scheduler: str, tls_dir: Path | None, tasks: int, seconds: float, timeout: float) -> dict[str, Any]:
    from distributed import as_completed

    from .client import connect

    client = connect(scheduler, tls_dir, 30)
    tag = uuid.uuid4().hex[:8]
    try:
        t0 = time.perf_counter()
        futures = [client.submit(_work, i, seconds, key=f"lab-spread-{tag}-{i}", pure=False) for i in range(tasks)]
        returned: Counter[str] = Counter()
        done = set()
        deadline = t0 + timeout
        try:
            for f in as_completed(futures, timeout=timeout, loop=client.loop):
                try:
                    # A result on a worker nobody can reach never comes: wait only what is left.
                    returned[f.result(timeout=max(0.5, deadline - time.perf_counter()))] += 1
                    done.add(f.key)
                except Exception:
                    continue
        except TimeoutError:
            pass
        elapsed = time.perf_counter() - t0
        missing = [f.key for f in futures if f.key not in done]
        held: Counter[str] = Counter(client.run_on_scheduler(_holders, missing).values()) if missing else Counter()
        client.cancel(futures, force=True)
        return {
            "tasks": tasks,
            "returned": dict(sorted(returned.items())),
            "back": sum(returned.values()),
            "seconds": round(elapsed, 2),
            "not_back": dict(sorted(held.items())),
        }
    finally:
        client.close()


def main(args: Any) -> int:
    out = spread(args.scheduler, args.tls_dir, args.tasks, args.seconds, args.timeout)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0
