"""pytest for cluster-runtime/: the runtime package as the bundle ships it (imported from
the source tree), run with a Python that has the locked packages (npm run test:python
makes that venv from the runtime lock). Workloads run on a cluster of this process whose
three one-thread workers are named node1..node3, as the benchmark sees nodes."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cluster-runtime"))

NODES_JSON = '[{"name":"node1","ip":"127.0.0.1","threads":1,"memoryLimitMb":768},{"name":"node2","ip":"127.0.0.1","threads":1,"memoryLimitMb":768},{"name":"node3","ip":"127.0.0.1","threads":1,"memoryLimitMb":768}]'


@pytest.fixture(scope="session")
def client():
    from distributed import Client, Scheduler, SpecCluster, Worker

    workers = {
        f"node{i}": {"cls": Worker, "options": {"nthreads": 1, "memory_limit": "768MiB", "host": "127.0.0.1"}}
        for i in range(1, 4)
    }
    with (
        SpecCluster(
            scheduler={"cls": Scheduler, "options": {"dashboard_address": "127.0.0.1:0", "host": "127.0.0.1"}},
            workers=workers,
            asynchronous=False,
        ) as cluster,
        Client(cluster) as c,
    ):
        c.wait_for_workers(3, timeout=60)
        yield c


@pytest.fixture()
def bench(client):
    """A Bench as bench/cli.py builds it, at size small, its events kept in memory."""
    from dask_vm_runtime.bench import cluster
    from dask_vm_runtime.bench.context import Bench, SvdOptions
    from dask_vm_runtime.bench.events import Events

    nodes = cluster.parse_nodes(NODES_JSON)
    topology = cluster.wait_for_nodes(client, nodes, 60)
    events = Events(io.StringIO())
    return Bench(
        client=client,
        topology=topology,
        nodes=nodes,
        events=events,
        size="small",
        repeats=1,
        seed=42,
        node_counts=[1, 3],
        timeout=60,
        svd=SvdOptions(10, 2, 10, 3.0, None),
    )
