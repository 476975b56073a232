"""inc-sleep (seed 1): eight ``inc`` tasks that sleep one second, as dask.delayed, on the
workers of the first k nodes for every k. Ideal time = ceil(tasks / slots) · delay (no
overhead at all); sequential time is measured once by running the same functions in
this process, without Dask.

Two reductions, each its own case:
- python-sum: ``total = sum(results)`` exactly as in the write-up. Python's sum builds a
  chain of 8 ``add`` tasks; on one-thread workers they wait for the incs, then run one
  after another, hopping between workers: a serial tail of scheduler round trips.
- delayed-sum: ``total = dask.delayed(sum)(results)``, as in the Dask tutorial: one task
  gathers the 8 results.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from .context import Bench, median
from .tasks import has_scheduler_plugin, inc, remove_scheduler_plugin

NAME = "inc-sleep"
TASKS = 8
REDUCTIONS = ("python-sum", "delayed-sum")
TASK_STREAM = "task-stream"  # distributed.diagnostics.task_stream.TaskStreamPlugin.name


def delay_for(size: str) -> float:
    return 1.0 if size == "full" else 0.2


def cases(bench: Bench) -> int:
    return len(bench.node_counts) * len(REDUCTIONS)


def run(bench: Bench) -> dict[str, Any]:
    client = bench.client
    delay = delay_for(bench.size)
    data = list(range(TASKS))
    expected_total = sum(x + 1 for x in data)

    bench.events.progress(NAME, f"sequential run: {TASKS} × inc in this process, no Dask")
    t0 = time.perf_counter()
    sequential_total = sum([inc(x, delay) for x in data])
    sequential = time.perf_counter() - t0
    if sequential_total != expected_total:
        raise AssertionError(f"sequential inc-sleep total {sequential_total} != {expected_total}")

    # get_task_stream installs the scheduler's task-stream plugin; it is removed afterwards
    # unless it was there already (the dashboard adds it), so that later workloads do not
    # pay for recording every task.
    had_plugin = client.run_on_scheduler(has_scheduler_plugin, TASK_STREAM)
    try:
        out_cases = [
            _case(bench, k, reduction, data, delay, expected_total, sequential)
            for k in bench.node_counts
            for reduction in REDUCTIONS
        ]
    finally:
        if not had_plugin:
            client.run_on_scheduler(remove_scheduler_plugin, TASK_STREAM)
    return {
        "tasks": TASKS,
        "delaySeconds": delay,
        "expectedTotal": expected_total,
        "sequentialSeconds": sequential,
        "cases": out_cases,
    }


def _case(
    bench: Bench, k: int, reduction: str, data: list[int], delay: float, expected_total: int, sequential: float
) -> dict[str, Any]:
    import dask
    from dask.utils import key_split
    from distributed import get_task_stream

    client = bench.client
    label = f"{k} node(s), {reduction}"
    bench.before_case(NAME, label)
    topology = bench.topology
    addresses = topology.addresses(k)
    slots = topology.slots(k)
    ideal = math.ceil(TASKS / slots) * delay
    runs = []
    for rep in range(bench.repeats):
        bench.events.progress(NAME, f"{label}, repeat {rep + 1}/{bench.repeats}")
        # The seed's code, unchanged but for the delay argument (and the reduction).
        results = []
        for x in data:
            y = dask.delayed(inc)(x, delay)
            results.append(y)
        total = sum(results) if reduction == "python-sum" else dask.delayed(sum)(results)
        with get_task_stream(client) as stream:
            t0 = time.perf_counter()
            future = client.compute(total, workers=addresses, allow_other_workers=False)
            value = future.result()
            seconds = time.perf_counter() - t0
        del future, total, results
        ran_on = Counter(
            topology.node_by_address.get(r["worker"], r["worker"]) for r in stream.data if key_split(r["key"]) == "inc"
        )
        per_node = {n: ran_on.get(n, 0) for n in topology.node_names(k)}
        per_node.update({n: c for n, c in ran_on.items() if n not in per_node})  # shows a broken restriction
        runs.append(
            {"seconds": seconds, "total": int(value), "correct": value == expected_total, "tasksPerNode": per_node}
        )
        if rep + 1 < bench.repeats:
            bench.settle()
    measured = median([r["seconds"] for r in runs])
    case = {
        "nodes": k,
        "reduction": reduction,
        "nodeNames": topology.node_names(k),
        "workers": addresses,
        "slots": slots,
        "idealSeconds": ideal,
        "seconds": measured,
        "minSeconds": min(r["seconds"] for r in runs),
        "speedup": sequential / measured,
        "efficiency": ideal / measured,
        "overheadFraction": measured / ideal - 1,
        "correct": all(r["correct"] for r in runs),
        "runs": runs,
    }
    bench.events.case(
        NAME,
        label,
        {
            key: case[key]
            for key in ("nodes", "reduction", "slots", "seconds", "idealSeconds", "speedup", "efficiency", "correct")
        },
    )
    return case
