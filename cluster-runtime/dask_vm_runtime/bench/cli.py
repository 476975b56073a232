"""python -m dask_vm_runtime.bench: runs the benchmark workloads against a running
cluster and writes one JSON results document.

stdout carries JSON lines only, one event each:
  {"event": "start",    "time", "schemaVersion", "workloads", "size", "nodeCounts", "repeats", "totalCases", "scheduler"}
  {"event": "progress", "time", "workload", "step", "done", "total", "casesDone", "totalCases"}
  {"event": "case",     "time", "workload", "step", "done", "total", "casesDone", "totalCases", "summary": {...}}
(done/total count the cases of that workload, casesDone/totalCases those of the run.)
  {"event": "done",     "time", "out", "seconds"}
  {"event": "error",    "time", "message", "exitCode"}     (then a non-zero exit)
Human-readable logs go to stderr. Exit codes: 0 done (goals are judged by the report,
not here), 2 bad arguments, 1 any other failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ..cli import Formatter, Parser
from ..errors import RuntimeCliError, bad_input
from . import SCHEMA_VERSION, WORKLOADS, cluster, inc_sleep, map_reduce, placement, svd, svd_ratings, tasks
from .context import Bench, SvdOptions
from .events import Events, claim_stdout, log, setup_logging

PROG = "python -m dask_vm_runtime.bench"
MODULES = {
    "inc-sleep": inc_sleep,
    "map-reduce": map_reduce,
    "placement": placement,
    "svd": svd,
    "svd-ratings": svd_ratings,
}


def build_parser() -> Parser:
    p = Parser(prog=PROG, description=__doc__, formatter_class=Formatter)
    p.add_argument("--scheduler", required=True, help="scheduler address, e.g. tls://192.168.56.11:8786")
    p.add_argument(
        "--tls-dir",
        type=Path,
        default=None,
        help="folder with ca.pem, client.pem, client-key.pem for mutual TLS (required for tls:// addresses)",
    )
    p.add_argument(
        "--nodes",
        required=True,
        help='the nodes as JSON, [{"name":"node1","ip":"192.168.56.11","threads":1,"memoryLimitMb":1536}, ...], or @FILE holding it; workers map to nodes by name (node1 or node1-N), else by host IP',
    )
    p.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated, run in this order; any of {', '.join(WORKLOADS)}",
    )
    p.add_argument(
        "--size",
        choices=("small", "full"),
        default="full",
        help="full: the seeds' sizes (1 s sleeps, 10,000 items, an SVD matrix > 3 × a worker's memory limit); small: seconds, for tests",
    )
    p.add_argument("--repeats", type=int, default=3, help="timed runs per case; the report uses their median")
    p.add_argument("--seed", type=int, default=20240501, help="seed of the SVD matrix and of svd_compressed")
    p.add_argument(
        "--node-counts",
        default=None,
        help="comma-separated k values for inc-sleep and svd: runs on the workers of the first k nodes; default 1,2,...,N",
    )
    p.add_argument("--out", type=Path, required=True, help="where to write the results JSON (written atomically)")
    p.add_argument(
        "--svd-matrix",
        default=None,
        help="svd-ratings' matrix: a MovieLens ratings.csv on this node (sent to the workers), data:NAME/FILE (each node's copy, npm run data -- push), or generated:ml-latest-small|ml-10m|ml-32m; default: generated:ml-32m (full; ml-10m where workers have under 1 GiB), generated:ml-latest-small (small)",
    )
    p.add_argument("--svd-k", type=int, default=10, help="singular values to compute (and to plant)")
    p.add_argument(
        "--svd-power-iter",
        type=int,
        default=None,
        help=f"power iterations of svd_compressed (each adds two passes over the matrix); default: svd {svd.POWER_ITER}, svd-ratings {svd_ratings.POWER_ITER}",
    )
    p.add_argument(
        "--svd-oversamples",
        type=int,
        default=None,
        help=f"oversamples of svd_compressed; default: svd {svd.OVERSAMPLES}, svd-ratings {svd_ratings.OVERSAMPLES}",
    )
    p.add_argument(
        "--svd-memory-factor",
        type=float,
        default=3.2,
        help="full size: the generated matrix is at least this many times the smallest worker memory limit",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the scheduler and for every node's workers"
    )
    p.add_argument(
        "--host-cpus",
        type=int,
        default=None,
        help="CPUs of the one computer all nodes run on (namespaces or VMs on it), recorded so the report bounds speed-up goals by the cores the nodes share; default: none (nodes on machines of their own)",
    )
    return p


def _parse_list(flag: str, text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise bad_input(f"{flag} is empty")
    return items


def check_args(args: argparse.Namespace) -> tuple[list[str], list[cluster.Node], list[int]]:
    workloads = _parse_list("--workloads", args.workloads)
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        raise bad_input(f"--workloads: unknown {', '.join(unknown)}; allowed: {', '.join(WORKLOADS)}")
    if len(set(workloads)) != len(workloads):
        raise bad_input(f"--workloads names a workload twice: {args.workloads}")
    nodes = cluster.parse_nodes(args.nodes)
    if args.node_counts is None:
        counts = list(range(1, len(nodes) + 1))
    else:
        try:
            counts = [int(c) for c in _parse_list("--node-counts", args.node_counts)]
        except ValueError:
            raise bad_input(f"--node-counts {args.node_counts}: expected integers such as 1,2,3") from None
        bad = [c for c in counts if not 1 <= c <= len(nodes)]
        if bad:
            raise bad_input(f"--node-counts {args.node_counts}: {bad} outside 1..{len(nodes)} (the number of --nodes)")
        if len(set(counts)) != len(counts):
            raise bad_input(f"--node-counts {args.node_counts} repeats a value")
    if args.repeats < 1:
        raise bad_input(f"--repeats {args.repeats}: must be 1 or more")
    if args.svd_k < 1 or (args.svd_power_iter or 0) < 0 or (args.svd_oversamples or 0) < 0:
        raise bad_input("--svd-k must be >= 1, --svd-power-iter and --svd-oversamples >= 0")
    if args.svd_memory_factor <= 0:
        raise bad_input(f"--svd-memory-factor {args.svd_memory_factor}: must be > 0")
    if args.svd_matrix is not None:
        if "svd-ratings" not in workloads:
            raise bad_input(
                f"--svd-matrix feeds the svd-ratings workload, which --workloads {args.workloads} leaves out; "
                "add it: --workloads svd-ratings (svd is the generated dense matrix)"
            )
        svd_ratings.parse_source(args.svd_matrix, args.size)
    if args.timeout <= 0:
        raise bad_input(f"--timeout {args.timeout}: must be > 0")
    if args.host_cpus is not None and args.host_cpus < 1:
        raise bad_input(f"--host-cpus {args.host_cpus}: must be 1 or more")
    return workloads, nodes, counts


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def client_report(load_at_start: list[float] | None) -> dict[str, Any]:
    import dask
    import distributed
    import numpy

    return {
        # The client machine's 1/5/15-minute load: on a loopback test cluster it is the
        # cluster's machine, and other work on it slows every figure.
        "loadAverage": {"start": load_at_start, "end": load_average()},
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }


def config_report(
    args: argparse.Namespace, workloads: list[str], nodes: list[cluster.Node], counts: list[int]
) -> dict[str, Any]:
    return {
        "scheduler": args.scheduler,
        "tlsDir": str(args.tls_dir) if args.tls_dir else None,
        "nodes": [n.as_json() for n in nodes],
        "workloads": workloads,
        "size": args.size,
        "repeats": args.repeats,
        "seed": args.seed,
        "nodeCounts": counts,
        "out": str(args.out),
        "svdMatrix": args.svd_matrix,
        "svdK": args.svd_k,
        "svdPowerIter": args.svd_power_iter,
        "svdOversamples": args.svd_oversamples,
        "svdMemoryFactor": args.svd_memory_factor,
        "timeout": args.timeout,
        "hostCpus": args.host_cpus,
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run(args: argparse.Namespace, events: Events) -> int:
    workloads, nodes, counts = check_args(args)
    started_at, t_start, load_at_start = now(), time.perf_counter(), load_average()
    client = cluster.connect(args.scheduler, args.tls_dir, args.timeout)
    try:
        topology = cluster.wait_for_nodes(client, nodes, args.timeout)
        cluster.log_workers(topology)
        cluster.check_code(client)
        bench = Bench(
            client=client,
            topology=topology,
            nodes=nodes,
            events=events,
            size=args.size,
            repeats=args.repeats,
            seed=args.seed,
            node_counts=counts,
            timeout=args.timeout,
            svd=SvdOptions(
                args.svd_k, args.svd_power_iter, args.svd_oversamples, args.svd_memory_factor, args.svd_matrix
            ),
        )
        events.totals = {w: MODULES[w].cases(bench) for w in workloads}
        info = client.scheduler_info(n_workers=-1)
        scheduler = {
            "address": client.scheduler.address,
            "id": info.get("id"),
            "workers": len(info["workers"]),
            "threads": sum(w["nthreads"] for w in info["workers"].values()),
            "workerSaturation": client.run_on_scheduler(tasks.worker_saturation),
        }
        events.emit(
            "start",
            schemaVersion=SCHEMA_VERSION,
            workloads=workloads,
            size=args.size,
            nodeCounts=counts,
            repeats=args.repeats,
            totalCases=events.total_cases,
            scheduler=scheduler["address"],
        )
        hardware = cluster.hardware(client, topology)
        results: dict[str, Any] = {}
        for name in workloads:
            events.progress(name, "starting")
            results[name] = MODULES[name].run(bench)
        document = {
            "schemaVersion": SCHEMA_VERSION,
            "startedAt": started_at,
            "finishedAt": now(),
            "durationSeconds": time.perf_counter() - t_start,
            "scheduler": scheduler,
            "nodes": [n.as_json() for n in nodes],
            "client": client_report(load_at_start),
            "hardware": hardware,
            "config": config_report(args, workloads, nodes, counts),
            "workloads": results,
        }
    finally:
        client.close()
    write_json(args.out, document)
    events.emit("done", out=str(args.out), seconds=document["durationSeconds"])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    events = claim_stdout()
    setup_logging()
    try:
        return run(args, events)
    except RuntimeCliError as err:
        sys.stderr.write(f"{PROG}: error: {err}\n")
        events.emit("error", message=str(err), exitCode=err.exit_code)
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        events.emit("error", message="interrupted", exitCode=130)
        return 130
    except Exception as err:
        traceback.print_exc()
        log.error("benchmark failed: %s", err)
        events.emit("error", message=f"{type(err).__name__}: {err}", exitCode=1)
        return 1
