"""map-reduce (seed 2): ``A = client.map(square, range(N)); B = client.map(neg, A);
total = client.submit(sum, B)`` with one future per item, as in the write-up; the same
reduction batched into one task per worker thread; and the per-item version again on a
LocalCluster started here, on the client's machine (the peer a user would otherwise pick).

Rates count the seed's tasks (2·N + 1) for every variant, so that the batched variant,
which runs far fewer graph tasks, is compared on the work it does; graph tasks per
second are recorded as well. The three variants take turns, one repeat each at a time,
while the LocalCluster is up (idle when it is not its turn)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import cluster
from .context import Bench, median
from .tasks import neg, neg_square_sum, square

if TYPE_CHECKING:
    from distributed import Client

NAME = "map-reduce"
WARM_ITEMS = 500


def items_for(size: str) -> int:
    return 10_000 if size == "full" else 2_000


def cases(bench: Bench) -> int:
    return 3  # per-item, batched, local-cluster


def per_item(client: Client, n: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    A = client.map(square, range(n))
    B = client.map(neg, A)
    total = client.submit(sum, B)
    value = total.result()
    seconds = time.perf_counter() - t0
    return seconds, int(value)


def chunks_of(n: int, partitions: int) -> list[range]:
    step = -(-n // partitions)
    return [range(lo, min(lo + step, n)) for lo in range(0, n, step)]


def batched(client: Client, n: int, partitions: int) -> tuple[float, int]:
    chunks = chunks_of(n, partitions)
    t0 = time.perf_counter()
    parts = client.map(neg_square_sum, chunks)
    total = client.submit(sum, parts)
    value = total.result()
    seconds = time.perf_counter() - t0
    return seconds, int(value)


class Variant:
    """One way of running the workload, with its runs so far."""

    def __init__(
        self,
        name: str,
        client: Client,
        run_once: Callable[[int], tuple[float, int]],
        graph_tasks: int,
        extra: dict[str, Any],
        keep: list[Any],
    ) -> None:
        self.name = name
        self.client = client
        self.run_once = run_once
        self.graph_tasks = graph_tasks
        self.extra = extra
        self.keep = keep
        self.runs: list[dict[str, Any]] = []

    def settle(self) -> None:
        cluster.settle(self.client, self.keep)

    def record(self, n: int) -> dict[str, Any]:
        seconds = median([r["seconds"] for r in self.runs])
        return {
            "variant": self.name,
            **self.extra,
            "graphTasks": self.graph_tasks,
            "seconds": seconds,
            "minSeconds": min(r["seconds"] for r in self.runs),
            "tasksPerSecond": (2 * n + 1) / seconds,
            "graphTasksPerSecond": self.graph_tasks / seconds,
            "itemsPerSecond": n / seconds,
            "correct": all(r["correct"] for r in self.runs),
            "runs": self.runs,
        }


def run(bench: Bench) -> dict[str, Any]:
    import dask
    from distributed import Client, LocalCluster

    n = items_for(bench.size)
    expected = -sum(x * x for x in range(n))

    bench.before_case(NAME, "per-item, batched and LocalCluster")
    topology = bench.topology
    all_nodes = len(topology.nodes)
    workers = topology.workers_of(all_nodes)
    partitions = topology.slots(all_nodes)
    on_cluster = {"target": "cluster", "workers": len(workers), "threads": topology.slots(all_nodes)}

    # The peer: processes, as many workers as the cluster has, the same threads each
    # (the cluster's median when nodes differ: a LocalCluster has one thread count).
    threads = sorted(w.nthreads for w in workers)
    threads_per_worker = threads[len(threads) // 2]
    memory_limit = min((w.memory_limit for w in workers if w.memory_limit > 0), default=0) or "auto"
    bench.events.progress(
        NAME,
        f"starting a LocalCluster on this machine: {len(workers)} worker processes × {threads_per_worker} thread(s)",
    )
    local = {
        "nWorkers": len(workers),
        "threadsPerWorker": threads_per_worker,
        "processes": True,
        "host": "127.0.0.1",
        "memoryLimitBytes": memory_limit if isinstance(memory_limit, int) else None,
        "workerSaturation": repr(float(dask.config.get("distributed.scheduler.worker-saturation"))),
    }
    with (
        LocalCluster(
            n_workers=len(workers),
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=memory_limit,
        ) as lc,
        Client(lc, set_as_default=False) as peer,
    ):
        peer.wait_for_workers(len(workers), timeout=bench.timeout)
        cluster.warm_up(peer, sorted(peer.scheduler_info(n_workers=-1)["workers"]))
        local["scheduler"] = lc.scheduler_address
        variants = [
            Variant(
                "per-item",
                bench.client,
                lambda m: per_item(bench.client, m),
                2 * n + 1,
                {**on_cluster, "partitions": n},
                bench.keep,
            ),
            Variant(
                "batched",
                bench.client,
                lambda m: batched(bench.client, m, partitions),
                len(chunks_of(n, partitions)) + 1,
                {**on_cluster, "partitions": partitions},
                bench.keep,
            ),
            Variant(
                "local-cluster",
                peer,
                lambda m: per_item(peer, m),
                2 * n + 1,
                {
                    "target": "local-cluster",
                    "workers": len(workers),
                    "threads": len(workers) * threads_per_worker,
                    "partitions": n,
                },
                [],
            ),
        ]
        # Warm-up on a few items: imports, connections and the schedulers' duration
        # estimates for these task prefixes; not timed, released before timing.
        for v in variants:
            v.run_once(WARM_ITEMS)
            v.settle()
        # The variants take turns, repeat by repeat, so that a change in the machine's
        # load (other processes) weighs on each of them alike.
        for rep in range(bench.repeats):
            for v in variants:
                bench.events.progress(NAME, f"{v.name}: {n} items, repeat {rep + 1}/{bench.repeats}")
                seconds, value = v.run_once(n)
                v.runs.append({"seconds": seconds, "total": value, "correct": value == expected})
                v.settle()
        records = [v.record(n) for v in variants]
    for r in records:
        bench.events.case(NAME, r["variant"], {k: r[k] for k in ("variant", "seconds", "tasksPerSecond", "correct")})

    return {
        "items": n,
        "seedTasks": 2 * n + 1,
        "expectedTotal": expected,
        "localCluster": local,
        "variants": records,
    }
