"""The cluster as the benchmark sees it: which worker belongs to which node, the workers
of the first k nodes, and the chores done before every case (wait for every node's
workers, drop every task the previous case left, warm the connections up)."""

from __future__ import annotations

import gc
import json
import os
import re
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RuntimeCliError, bad_input
from . import tasks
from .events import claimed, log

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class Node:
    name: str
    ip: str
    threads: int
    memory_limit_mb: int

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ip": self.ip, "threads": self.threads, "memoryLimitMb": self.memory_limit_mb}


@dataclass(frozen=True)
class Worker:
    address: str
    name: str
    host: str
    node: str
    nthreads: int
    memory_limit: int


def parse_nodes(text: str) -> list[Node]:
    """--nodes: a JSON list [{name, ip, threads, memoryLimitMb}], or @FILE holding one."""
    source = "--nodes"
    if text.startswith("@"):
        source = f"--nodes file {text[1:]}"
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as err:
            raise bad_input(f"{source}: cannot read it ({err.strerror})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise bad_input(
            f'{source} is not JSON ({err.msg} at character {err.pos}); expected [{{"name":"node1","ip":"192.168.56.11","threads":1,"memoryLimitMb":1536}}, ...]'
        ) from None
    if not isinstance(raw, list) or not raw:
        raise bad_input(f"{source} must be a non-empty JSON list of nodes, got {type(raw).__name__}")
    nodes: list[Node] = []
    for i, item in enumerate(raw):
        where = f"{source}[{i}]"
        if not isinstance(item, dict):
            raise bad_input(f"{where} must be an object with name, ip, threads, memoryLimitMb")
        unknown = sorted(set(item) - {"name", "ip", "threads", "memoryLimitMb"})
        if unknown:
            raise bad_input(
                f"{where} has unknown field(s) {', '.join(unknown)}; allowed: name, ip, threads, memoryLimitMb"
            )
        name, ip = item.get("name"), item.get("ip")
        threads, memory = item.get("threads"), item.get("memoryLimitMb", 0)
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise bad_input(f"{where}.name must be a node name such as node1, got {name!r}")
        if not isinstance(ip, str) or not ip:
            raise bad_input(f"{where}.ip must be the node's private IP such as 192.168.56.11, got {ip!r}")
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise bad_input(f"{where}.threads must be an integer >= 1 (the worker's --nthreads), got {threads!r}")
        if not isinstance(memory, int) or isinstance(memory, bool) or memory < 0:
            raise bad_input(
                f"{where}.memoryLimitMb must be an integer >= 0 (0: take the worker's own limit), got {memory!r}"
            )
        nodes.append(Node(name, ip, threads, memory))
    names = [n.name for n in nodes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise bad_input(f"{source} names {', '.join(dupes)} more than once; every node needs its own name")
    return nodes


def node_of(worker_name: str, host: str, nodes: Sequence[Node]) -> str | None:
    """A worker belongs to the node of the same name (node1, or node1-0 when a node runs
    several worker processes), else to the one node with its host IP. Matching by name
    comes first so that a loopback test cluster (every ip 127.0.0.1) maps too."""
    for node in nodes:
        if worker_name == node.name or re.fullmatch(re.escape(node.name) + r"-\d+", worker_name):
            return node.name
    by_ip = [n.name for n in nodes if n.ip == host]
    return by_ip[0] if len(by_ip) == 1 else None


class Topology:
    """The workers of each node, in --nodes order."""

    def __init__(self, nodes: Sequence[Node], workers: Sequence[Worker]) -> None:
        self.nodes = list(nodes)
        self.workers = sorted(workers, key=lambda w: ([n.name for n in nodes].index(w.node), w.name, w.address))
        self.node_by_address = {w.address: w.node for w in self.workers}

    def workers_of(self, k: int) -> list[Worker]:
        wanted = {n.name for n in self.nodes[:k]}
        return [w for w in self.workers if w.node in wanted]

    def addresses(self, k: int) -> list[str]:
        return [w.address for w in self.workers_of(k)]

    def slots(self, k: int) -> int:
        return sum(w.nthreads for w in self.workers_of(k))

    def node_names(self, k: int) -> list[str]:
        return [n.name for n in self.nodes[:k]]

    def slots_per_node(self) -> dict[str, int]:
        out = {n.name: 0 for n in self.nodes}
        for w in self.workers:
            out[w.node] += w.nthreads
        return out

    def min_memory_limit(self) -> int:
        """The smallest worker memory limit in bytes: --nodes memoryLimitMb where given,
        else what the workers report."""
        limits = [n.memory_limit_mb * 2**20 for n in self.nodes if n.memory_limit_mb > 0]
        if not limits:
            limits = [w.memory_limit for w in self.workers if w.memory_limit > 0]
        if not limits:
            raise bad_input(
                "no memory limit known: give memoryLimitMb in --nodes or start the workers with --memory-limit"
            )
        return min(limits)


def connect(scheduler: str, tls_dir: Path | None, timeout: float) -> Client:
    """The benchmark's client. It is the default client, because svd_compressed persists
    its intermediate results through the default client."""
    from distributed import Client

    from ..client import security_for

    try:
        client = Client(scheduler, security=security_for(scheduler, tls_dir), timeout=timeout, set_as_default=True)
    except (OSError, TimeoutError) as err:
        raise RuntimeCliError(
            f"cannot connect to the scheduler at {scheduler} within {timeout:g} s: {err}; "
            "check that the scheduler runs, that the address is the node's private IP and that --tls-dir holds this cluster's certificates"
        ) from None
    watch_scheduler(client, scheduler)
    return client


SCHEDULER_LOST_EXIT = 1


def watch_scheduler(client: Client, scheduler: str, interval: float = 0.1) -> threading.Thread:
    """Ends the process (exit 1, an error event, one line on stderr) as soon as the client
    loses the scheduler. A scheduler that dies takes every task and result with it, so
    nothing after that point can be measured; left alone, distributed cancels the run's
    futures but its next calls (task-stream cursors, run_on_scheduler) wait for a
    reconnect and fail 10-20 s later with a CommClosedError that hides the cause.
    The client's status goes from "running" to "connecting" only when its connection
    drops (a close of our own goes to "closing"), which is what this thread watches."""
    started = time.monotonic()

    def watch() -> None:
        while True:
            status = getattr(client.status, "value", client.status)
            if status == "connecting":
                message = (
                    f"lost the connection to the scheduler at {scheduler} after {time.monotonic() - started:.1f} s of the run: "
                    "the scheduler stopped or restarted (its tasks and results are gone with it) or the network to it failed; "
                    "check the scheduler service (npm run status; npm run logs -- node1 scheduler), then run the benchmark again"
                )
                sys.stderr.write(f"python -m dask_vm_runtime.bench: error: {message}\n")
                sys.stderr.flush()
                events = claimed()
                if events is not None:
                    events.emit("error", message=message, exitCode=SCHEDULER_LOST_EXIT)
                os._exit(SCHEDULER_LOST_EXIT)
            if status in ("closing", "closed"):
                return
            time.sleep(interval)

    thread = threading.Thread(target=watch, name="scheduler-watchdog", daemon=True)
    thread.start()
    return thread


def wait_for_nodes(client: Client, nodes: Sequence[Node], timeout: float) -> Topology:
    """Waits until every node has at least one worker, then maps workers to nodes. A
    worker that matches no node is an error: its tasks would count for no node."""
    deadline = time.monotonic() + timeout
    while True:
        info = client.scheduler_info(n_workers=-1)["workers"]
        workers: list[Worker] = []
        stray: list[str] = []
        for address, w in info.items():
            node = node_of(str(w.get("name")), str(w.get("host")), nodes)
            if node is None:
                stray.append(f"{address} (name {w.get('name')}, host {w.get('host')})")
                continue
            workers.append(
                Worker(
                    address,
                    str(w.get("name")),
                    str(w.get("host")),
                    node,
                    int(w["nthreads"]),
                    int(w.get("memory_limit") or 0),
                )
            )
        missing = [n.name for n in nodes if not any(w.node == n.name for w in workers)]
        if stray:
            raise bad_input(
                f"worker(s) {', '.join(stray)} match no node of --nodes (names {', '.join(n.name for n in nodes)}; "
                f"IPs {', '.join(sorted({n.ip for n in nodes}))}); name workers after their node (--name node1) or list their node"
            )
        if not missing:
            return Topology(nodes, workers)
        if time.monotonic() > deadline:
            raise RuntimeCliError(
                f"no worker registered for node(s) {', '.join(missing)} within {timeout:g} s ({len(workers)} worker(s) seen); check the worker service on those nodes and its log"
            )
        time.sleep(0.25)


def settle(client: Client, keep: Sequence[Any] = (), timeout: float = 60.0) -> None:
    """Waits until the scheduler and the workers hold no task but ``keep``, so that the
    next case starts from an empty cluster (nothing cached under the same keys, nothing
    still running or being released).
    Cheaper than client.restart(), which would also drop warm connections and imports."""
    gc.collect()
    deadline = time.monotonic() + timeout
    while True:
        left = client.run_on_scheduler(tasks.scheduler_task_count, list(keep))
        # The workers too: after 20,000 tiny tasks a worker is busy forgetting them for a
        # while after the scheduler is done, and that would slow the next case down.
        if left == 0:
            left = sum(client.run(tasks.worker_task_count, list(keep)).values())
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeCliError(
                f"{left} task(s) still on the scheduler or the workers {timeout:g} s after a case ended; another client may be using this cluster"
            )
        time.sleep(0.02)


def warm_up(client: Client, addresses: Sequence[str], keep: Sequence[Any] = ()) -> None:
    """Imports the task module on every worker and opens every worker-to-worker
    connection (each worker fetches a value held by each other one), so that no case
    pays for TLS handshakes or imports inside its timed block."""
    addresses = list(addresses)
    held = [
        client.submit(tasks.token, i, workers=[a], allow_other_workers=False, pure=False)
        for i, a in enumerate(addresses)
    ]
    fetch = [client.submit(tasks.touch, *held, workers=[a], allow_other_workers=False, pure=False) for a in addresses]
    counts = client.gather(fetch)
    if counts != [len(addresses)] * len(addresses):
        raise RuntimeCliError(f"warm-up returned {counts}, expected {len(addresses)} from every worker")
    del held, fetch
    settle(client, keep)


def check_code(client: Client) -> None:
    """The scheduler and every worker must run the same task code as this client: a
    process started before the runtime was updated still holds the old functions."""
    try:
        theirs = {"scheduler": client.run_on_scheduler(tasks.code_sha256), **client.run(tasks.code_sha256)}
    except (ModuleNotFoundError, AttributeError) as err:
        raise RuntimeCliError(
            f"the scheduler or a worker cannot load this benchmark's tasks ({err}); install the same runtime bundle on every node "
            "and restart its services (for a test cluster: start every process with PYTHONPATH pointing at cluster-runtime/)"
        ) from None
    stale = sorted(who for who, sha in theirs.items() if sha != tasks.CODE_SHA256)
    if stale:
        raise RuntimeCliError(
            f"{', '.join(stale)} run(s) other benchmark task code than this client ({tasks.__file__}); "
            "they were started before the runtime changed: restart the scheduler and worker services, then run again"
        )


def hardware(client: Client, topology: Topology) -> list[dict[str, Any]]:
    report = client.run(tasks.hardware)
    rows = []
    for w in topology.workers:
        rows.append({"address": w.address, "node": w.node, "host": w.host, **report[w.address]})
    return rows


def memory_reports(client: Client, addresses: Sequence[str]) -> dict[str, dict[str, int]]:
    return client.run(tasks.memory_report, workers=list(addresses))


def memory_rows(
    topology: Topology, addresses: Sequence[str], before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> list[dict[str, Any]]:
    """Each worker's peak memory and what it spilled between two memory_reports."""
    return [
        {
            "address": a,
            "node": topology.node_by_address[a],
            "maxRssBytes": after[a]["maxRssBytes"],
            "spilledBytes": after[a]["spilledBytes"] - before[a]["spilledBytes"],
        }
        for a in addresses
    ]


def log_workers(topology: Topology) -> None:
    for w in topology.workers:
        log.info(
            "worker %s (%s) on %s: %d thread(s), memory limit %.0f MiB",
            w.address,
            w.name,
            w.node,
            w.nthreads,
            w.memory_limit / 2**20,
        )
