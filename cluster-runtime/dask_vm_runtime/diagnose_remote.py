"""What ``diagnose`` runs on the scheduler and on each worker of the cluster it looks at.

That cluster may be any Dask cluster, started by hand, without this package and on another
Python: so this file travels as source text, never as pickled functions (cloudpickle's
by-value code objects do not load on another Python minor version). The client sends
``eval`` (pickled by reference, as every Python has it) with an expression that executes
this source in a fresh namespace and calls one of the functions below. Standard library,
psutil and distributed only (every Dask worker has them), no f-string debugging or syntax
newer than Python 3.9, and no type annotations evaluated at run time.

Nothing here changes the cluster: it reads facts, opens connections and closes them, and a
worker's answer goes back through the scheduler's event log (``Worker.log_event``): the
worker's own connection to the scheduler, never a connection to the worker's advertised
address, which is the very thing that may be broken.
"""

# ruff: noqa: B905, UP031 - runs on the diagnosed cluster's Python, which may be older than 3.10
import asyncio
import os
import socket
import sys
import threading
import time


def versions():
    """Every installed distribution, first found on sys.path wins (as ``import`` does)."""
    from importlib import metadata

    out = {"python": "%d.%d.%d" % sys.version_info[:3]}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").strip().lower().replace("_", "-").replace(".", "-")
        if name and name not in out:
            out[name] = dist.version
    return out


def addresses():
    """The machine's IPv4 addresses (this network namespace's, for a namespace)."""
    import psutil

    found = set()
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family == socket.AF_INET:
                found.add(entry.address)
    return sorted(found)


def _cgroup_dir():
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                parts = line.strip().split(":", 2)
                if len(parts) == 3 and parts[0] == "0":
                    return "/sys/fs/cgroup" + parts[2]
    except OSError:
        pass
    return None


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def cores():
    """The CPUs this process may use: its affinity, capped by a cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    d = _cgroup_dir()
    quota = _read(d + "/cpu.max") if d else None
    if quota and not quota.startswith("max"):
        q, period = quota.split()
        n = min(n, max(1, -(-int(q) // int(period))))
    return n


def memory():
    """The memory this machine gives the process: physical memory, capped by a cgroup limit."""
    import psutil

    total = psutil.virtual_memory().total
    d = _cgroup_dir()
    limit = _read(d + "/memory.max") if d else None
    if limit and limit.isdigit():
        total = min(total, int(limit))
    return total


def reach(targets, connection_args, timeout):
    """For each Dask address, whether a connection opens and which server answers Dask's
    ``identity`` call there: {address: {"ok", "id", "type", "ms"} or {"ok": False, "error"}}.
    In a thread of its own with its own event loop, so that it also runs inside a running
    event loop (the scheduler's); never longer than about 2 × timeout."""
    from distributed.comm import connect

    async def one(address):
        t0 = time.perf_counter()
        comm = None
        try:
            comm = await asyncio.wait_for(connect(address, timeout=timeout, **connection_args), timeout)
            await comm.write({"op": "identity", "reply": True})
            answer = await asyncio.wait_for(comm.read(), timeout)
            return {
                "ok": True,
                "id": answer.get("id"),
                "type": answer.get("type"),
                "ms": round((time.perf_counter() - t0) * 1000, 1),
            }
        except BaseException as err:  # every failure is an answer here
            text = str(err) or type(err).__name__
            return {"ok": False, "error": text[:300], "ms": round((time.perf_counter() - t0) * 1000, 1)}
        finally:
            if comm is not None:
                comm.abort()

    async def every():
        answers = await asyncio.gather(*[one(a) for a in targets])
        return dict(zip(targets, answers))

    result = {}

    def run():
        result.update(asyncio.run(every()))

    thread = threading.Thread(target=run, name="dvc-diagnose-reach", daemon=True)
    thread.start()
    thread.join(2 * timeout + 1)
    for address in targets:
        result.setdefault(address, {"ok": False, "error": "no answer within %g s" % (2 * timeout)})
    return result


def machine_facts():
    return {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "addresses": addresses(),
        "cores": cores(),
        "memory": memory(),
        "versions": versions(),
        "time": time.time(),
    }


def scheduler_probe(topic, worker_addresses, timeout):
    """On the scheduler (run_on_scheduler, inside its event loop): its machine now, and, from
    a thread of its own so that the loop never waits, which workers it reaches; that answer
    goes to the scheduler's event log under topic."""
    from distributed import Scheduler

    scheduler = None
    for s in list(Scheduler._instances):
        if getattr(s, "status", None) is not None and str(s.status).endswith("running"):
            scheduler = s
            break
    facts = machine_facts()
    if scheduler is None:
        facts["reach_error"] = "no running Scheduler in this process"
        return facts

    def look():
        answer = {"kind": "scheduler-reach", "reach": reach(worker_addresses, scheduler.connection_args, timeout)}
        scheduler.loop.add_callback(scheduler.log_event, topic, answer)

    threading.Thread(target=look, name="dvc-diagnose-scheduler", daemon=True).start()
    return facts


def worker_probe(topic, peers, timeout):
    """A task pinned to one worker: its machine, its settings, which of its peers it reaches;
    the answer goes to the scheduler's event log under topic."""
    from distributed import get_worker

    t0 = time.time()
    w = get_worker()
    state = getattr(w, "state", w)
    manager = getattr(w, "memory_manager", w)
    facts = machine_facts()
    facts.update(
        {
            "kind": "probe",
            "address": w.address,
            "id": w.id,
            "name": str(w.name),
            "nthreads": state.nthreads,
            "memory_limit": getattr(manager, "memory_limit", None),
            "reach": reach([p for p in peers if p != w.address], w.connection_args, timeout),
            "self": reach([w.address], w.connection_args, timeout)[w.address],
        }
    )
    facts["seconds"] = round(time.time() - t0, 3)
    facts["time"] = time.time()
    # The worker's own estimate of the scheduler's clock, NTP-style: the scheduler's time in
    # each heartbeat's answer against the middle of that round trip. Better than comparing
    # with the event's arrival, which a slow link (an emulated VM: ~1 s) delays.
    delay = getattr(w, "scheduler_delay", None)
    if isinstance(delay, (int, float)):
        facts["scheduler_delay"] = delay
    w.log_event(topic, facts)
    return True


def moved(data, topic, source):
    """The second half of the transfer probe: data was computed on source and is here now."""
    from distributed import get_worker

    w = get_worker()
    w.log_event(topic, {"kind": "moved", "from": source, "to": w.address, "bytes": len(data), "time": time.time()})
    return len(data)
