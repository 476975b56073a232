"""What every workload receives: the client, the node/worker map, the run's parameters,
the event stream, and before_case(), the same preparation before every case."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import cluster
from .events import Events, log

if TYPE_CHECKING:
    from distributed import Client

Size = Literal["small", "full"]


@dataclass
class SvdOptions:
    k: int
    # None: each SVD workload's own setting (svd.py and svd_ratings.py say why).
    power_iter: int | None
    oversamples: int | None
    memory_factor: float
    # svd-ratings' source: a ratings file, data:NAME/FILE or generated:SHAPE (None: by size).
    matrix: str | None


@dataclass
class Bench:
    client: Client
    topology: cluster.Topology
    nodes: list[cluster.Node]
    events: Events
    size: Size
    repeats: int
    seed: int
    node_counts: list[int]
    timeout: float
    svd: SvdOptions
    warm: set[str] = field(default_factory=set)
    # Keys a workload keeps on the cluster on purpose (scattered input data): settling
    # before a case waits for every other task to be gone.
    keep: list[Any] = field(default_factory=list)

    def before_case(self, workload: str, label: str) -> None:
        """Every node has its workers (a restarted worker is mapped again), the scheduler
        holds no task, and the connections are warm."""
        self.events.progress(workload, f"{label}: waiting for the workers of {len(self.nodes)} node(s)")
        topology = cluster.wait_for_nodes(self.client, self.nodes, self.timeout)
        addresses = {w.address for w in topology.workers}
        if addresses != {w.address for w in self.topology.workers}:
            log.warning("the workers changed since the run started; mapping them again")
            cluster.log_workers(topology)
        self.topology = topology
        self.settle()
        if addresses != self.warm:
            cluster.warm_up(self.client, sorted(addresses), self.keep)
            self.warm = addresses

    def settle(self) -> None:
        cluster.settle(self.client, self.keep)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))
