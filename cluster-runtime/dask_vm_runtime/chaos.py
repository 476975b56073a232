"""``python -m dask_vm_runtime chaos ACTION``: the faults ``npm run chaos`` puts on a node.

- ``kill worker|scheduler``: SIGKILL to the Dask process (a worker's is its nanny's child:
  the nanny starts it again; the scheduler's manager restarts the scheduler).
- ``cut``: the node's interface on the private network down; a process of its own brings
  it up again after --for seconds, even if nobody is left to ask.
- ``slow``: the worker's processes stopped and continued in turn (SIGSTOP/SIGCONT, as
  cpulimit does) so that they get --percent of the CPU, for --for seconds.
- ``fill`` (on node 1, as a client): data pinned to one worker until its managed memory is
  --fraction of its limit, above Dask's spill threshold (60 %): the worker spills to disk.
  Held for --for seconds, then released.
- ``restore``: every fault of this node ended now, its services started if they are not.

A timed fault runs in a process of its own (new session, log in ROOT/logs/chaos-*.log) and
records itself in ROOT/run/chaos/FAULT.json, so ``restore`` finds and ends it. Nothing here
needs root but ``cut`` (sudo -n when not root).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .errors import RuntimeCliError, bad_input
from .services import manage

FILL_CHUNK = 8 * 2**20


def _state_dir(root: Path) -> Path:
    d = root / "run" / "chaos"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _record(root: Path, fault: str, **facts: Any) -> None:
    (_state_dir(root) / f"{fault}.json").write_text(json.dumps({"fault": fault, **facts}))


def _active(root: Path) -> list[dict[str, Any]]:
    out = []
    for f in sorted(_state_dir(root).glob("*.json")):
        try:
            out.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            f.unlink(missing_ok=True)
    return out


def _as_root(argv: list[str]) -> list[str]:
    return argv if os.geteuid() == 0 else ["sudo", "-n", *argv]


def _detach(root: Path, name: str, argv: list[str]) -> int:
    log = root / "logs" / f"chaos-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    return p.pid


def _service_pid(root: Path, manager: str, name: str) -> int | None:
    s = manage(root, name, manager, "status")
    return s.get("child_pid") if s.get("running") else None


def worker_processes(root: Path, manager: str) -> list[int]:
    """The worker's processes: the nanny's children (the worker and what it started)."""
    import psutil

    nanny = _service_pid(root, manager, "worker")
    if not nanny:
        return []
    try:
        return [c.pid for c in psutil.Process(nanny).children(recursive=True)]
    except psutil.Error:
        return []


def worker_process(root: Path, manager: str) -> int | None:
    """The worker itself: the nanny's child started by multiprocessing's spawn (not, say, a
    resource tracker the nanny also runs)."""
    import psutil

    nanny = _service_pid(root, manager, "worker")
    if not nanny:
        return None
    try:
        for child in psutil.Process(nanny).children():
            if any("spawn_main" in part for part in child.cmdline()):
                return child.pid
    except psutil.Error:
        pass
    return None


def kill(root: Path, manager: str, service: str) -> dict[str, Any]:
    if service == "worker":
        target = worker_process(root, manager)
        if not target:
            raise RuntimeCliError("the worker service runs no worker process here: nothing to kill (npm run status)")
        what = "the worker process (its nanny starts a new one)"
    else:
        target = _service_pid(root, manager, "scheduler")
        if not target:
            raise RuntimeCliError("the scheduler service is not running here: nothing to kill (npm run status)")
        what = "the scheduler process (its service manager starts it again)"
    os.kill(target, signal.SIGKILL)
    return {"fault": f"kill-{service}", "pid": target, "what": what}


def interface_of(ip: str) -> str:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[3].split("/")[0] == ip:
            return parts[1]
    raise bad_input(f"no interface of this node holds {ip}")


def cut(root: Path, ip: str, seconds: float) -> dict[str, Any]:
    iface = interface_of(ip)
    r = subprocess.run(_as_root(["ip", "link", "set", "dev", iface, "down"]), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeCliError(
            f"cannot set {iface} down ({r.stderr.strip()}): cutting a link needs root (sudo without a password)"
        )
    pid = _detach(root, "cut", _as_root(["sh", "-c", f"sleep {seconds:g}; ip link set dev {iface} up"]))
    until = time.time() + seconds
    _record(root, "cut", pid=pid, until=until, iface=iface)
    return {"fault": "cut-link", "iface": iface, "until": until}


def slow(root: Path, manager: str, seconds: float, percent: int) -> dict[str, Any]:
    if not worker_processes(root, manager):
        raise RuntimeCliError("the worker service runs no worker process here: nothing to slow (npm run status)")
    argv = [sys.executable, "-m", "dask_vm_runtime", "chaos", "throttle", "--root", str(root), "--manager", manager]
    pid = _detach(root, "slow", [*argv, "--for", str(seconds), "--percent", str(percent)])
    until = time.time() + seconds
    _record(root, "slow", pid=pid, until=until, percent=percent)
    return {"fault": "slow-cpu", "percent": percent, "until": until}


def throttle(root: Path, manager: str, seconds: float, percent: int, period: float = 0.1) -> int:
    """The loop behind slow: the worker's processes get percent of each period."""
    stopped: list[int] = []

    def resume(*_: Any) -> None:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def end(*_: Any) -> None:
        resume()
        sys.exit(0)

    signal.signal(signal.SIGTERM, end)
    signal.signal(signal.SIGINT, end)
    deadline = time.monotonic() + seconds
    pids: list[int] = []
    looked = 0.0
    try:
        while time.monotonic() < deadline:
            if time.monotonic() - looked > 1:  # a restarted worker is another process
                pids, looked = worker_processes(root, manager), time.monotonic()
            stopped = []
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(period * (100 - percent) / 100)
            resume()
            time.sleep(period * percent / 100)
    finally:
        resume()
        (_state_dir(root) / "slow.json").unlink(missing_ok=True)
    return 0


def fill(
    root: Path, worker: str, seconds: float, fraction: float, scheduler: str, tls_dir: Path | None
) -> dict[str, Any]:
    argv = [sys.executable, "-m", "dask_vm_runtime", "chaos", "fill-run", "--root", str(root), "--worker", worker]
    argv += ["--for", str(seconds), "--fraction", str(fraction), "--scheduler", scheduler]
    argv += ["--tls-dir", str(tls_dir)] if tls_dir else []
    pid = _detach(root, "fill", argv)
    until = time.time() + seconds
    _record(root, "fill", pid=pid, until=until, worker=worker, fraction=fraction)
    return {"fault": "fill-memory", "worker": worker, "fraction": fraction, "until": until}


def fill_run(root: Path, worker: str, seconds: float, fraction: float, scheduler: str, tls_dir: Path | None) -> int:
    """The client behind fill: random float64 blocks (incompressible) pinned to the worker."""
    import numpy as np

    from .client import connect

    client = connect(scheduler, tls_dir, 30)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        address = next((a for a, w in workers.items() if str(w.get("name")) == worker), None)
        if address is None:
            raise RuntimeCliError(f"no worker named {worker} is registered")
        limit = workers[address]["memory_limit"]
        n = math.ceil(fraction * limit / FILL_CHUNK)
        print(
            f"filling {worker}: {n} blocks of {FILL_CHUNK >> 20} MiB = {n * FILL_CHUNK / limit:.0%} of its {limit >> 20} MiB",
            flush=True,
        )
        futures = []
        for i in range(n):
            futures.append(
                client.submit(
                    np.random.random,
                    FILL_CHUNK // 8,
                    workers=[address],
                    allow_other_workers=False,
                    pure=False,
                    key=f"chaos-fill-{i}",
                )
            )
            if i % 8 == 7:  # in steps, as a growing computation would
                futures[-1].result()
        client.gather(futures[-1:])
        print(f"held: {n * FILL_CHUNK >> 20} MiB on {worker}", flush=True)
        time.sleep(max(0.0, seconds))
        return 0
    finally:
        (_state_dir(root) / "fill.json").unlink(missing_ok=True)
        client.close()


def restore(root: Path, manager: str, services: list[str]) -> dict[str, Any]:
    """Ends every fault recorded on this node, sets a cut link up, resumes stopped workers,
    starts services that are not running. Idempotent."""
    ended = []
    for fault in _active(root):
        pid = fault.get("pid")
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            except PermissionError:  # the cut's timer runs as root (sudo)
                subprocess.run(_as_root(["kill", str(pid)]), capture_output=True)
        if fault.get("iface"):
            subprocess.run(_as_root(["ip", "link", "set", "dev", fault["iface"], "up"]), capture_output=True)
        (_state_dir(root) / f"{fault['fault']}.json").unlink(missing_ok=True)
        ended.append(fault["fault"])
    for pid in worker_processes(root, manager) if "worker" in services else []:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    started = []
    for name in services:
        if not manage(root, name, manager, "status").get("running"):
            manage(root, name, manager, "start")
            started.append(name)
    return {"ended": ended, "started": started}


def main(args: Any) -> int:
    root = Path(args.root)
    if args.action == "kill":
        out = kill(root, args.manager, args.service)
    elif args.action == "cut":
        out = cut(root, args.ip, args.seconds)
    elif args.action == "slow":
        out = slow(root, args.manager, args.seconds, args.percent)
    elif args.action == "throttle":
        return throttle(root, args.manager, args.seconds, args.percent)
    elif args.action == "fill":
        out = fill(root, args.worker, args.seconds, args.fraction, args.scheduler, args.tls_dir)
    elif args.action == "fill-run":
        return fill_run(root, args.worker, args.seconds, args.fraction, args.scheduler, args.tls_dir)
    elif args.action == "restore":
        out = restore(root, args.manager, args.services.split(",") if args.services else [])
    else:
        out = {"active": _active(root)}
    sys.stdout.write(json.dumps(out) + "\n")
    return 0
