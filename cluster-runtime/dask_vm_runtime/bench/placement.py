"""placement (seed 2, the Dispy observation): 14 tasks of equal length over every node,
no restriction; tasks per node against slots per node. Each node is expected to take a
share of the tasks equal to its share of the worker threads (slots)."""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from .context import Bench, median
from .tasks import sleep_on_worker

NAME = "placement"
TASKS = 14


def delay_for(size: str) -> float:
    return 0.5 if size == "full" else 0.2


def cases(bench: Bench) -> int:
    return 1


def run(bench: Bench) -> dict[str, Any]:
    client = bench.client
    delay = delay_for(bench.size)
    bench.before_case(NAME, "all nodes")
    topology = bench.topology
    slots = topology.slots_per_node()
    total_slots = sum(slots.values())
    runs = []
    for rep in range(bench.repeats):
        bench.events.progress(
            NAME, f"{TASKS} tasks of {delay:g} s on {len(topology.nodes)} node(s), repeat {rep + 1}/{bench.repeats}"
        )
        t0 = time.perf_counter()
        futures = client.map(sleep_on_worker, range(TASKS), delay=delay, pure=False)
        where = client.gather(futures)
        seconds = time.perf_counter() - t0
        del futures
        counts = Counter(topology.node_by_address.get(a, a) for a in where)
        runs.append({"seconds": seconds, "tasksPerNode": {n: counts.get(n, 0) for n in slots}})
        bench.settle()
    per_node = []
    for name, s in slots.items():
        share = s / total_slots
        observed = sum(r["tasksPerNode"][name] for r in runs) / len(runs)
        per_node.append(
            {
                "node": name,
                "slots": s,
                "expectedShare": share,
                "expectedTasks": TASKS * share,
                "tasks": observed,
                "share": observed / TASKS,
            }
        )
    result = {
        "tasks": TASKS,
        "delaySeconds": delay,
        "totalSlots": total_slots,
        "idealSeconds": math.ceil(TASKS / total_slots) * delay,
        "seconds": median([r["seconds"] for r in runs]),
        "maxShareDeviation": max(abs(p["share"] - p["expectedShare"]) for p in per_node),
        "perNode": per_node,
        "runs": runs,
    }
    bench.events.case(
        NAME, "all nodes", {k: result[k] for k in ("tasks", "totalSlots", "seconds", "maxShareDeviation")}
    )
    return result
