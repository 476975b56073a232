"""``python -m dask_vm_runtime diagnose``: what is wrong with a Dask cluster, any Dask cluster.

The write-ups' failures, looked for on a running cluster (this project's or one started by
hand with ``dask scheduler`` and ``dask worker``): workers that advertise an address the
others cannot reach (VirtualBox's NAT address, 10.0.2.15, on every VM), a port a firewall
drops, versions that differ, threads above the cores a machine has, memory limits above
its memory, clocks apart, a dashboard that does not answer.

How, without hanging on the very connection that may be broken: a Dask client asks the
scheduler for its workers; the scheduler's own view (its machine, which worker addresses
it reaches) comes from ``run_on_scheduler``; each worker gets one small task pinned to it
(``workers=[address]``), which reaches it over the worker's own connection to the
scheduler, and answers through the scheduler's event log (diagnose_remote.py). Then one
result is moved between each pair of neighbours (the task on B needs A's result), and
this client tries each address itself. Every wait has a timeout; nothing is left on the
cluster but a few events in the scheduler's log.

``gather`` collects the facts, ``analyse`` turns them into findings (pure: unit-tested on
recorded facts), one finding per cause: a worker whose address nobody can reach is not
reported again as a failed transfer. Exit 0 healthy, 1 with findings, 2 on bad input.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import RuntimeCliError, bad_input

REMOTE_SOURCE = (Path(__file__).parent / "diagnose_remote.py").read_text(encoding="utf-8")
# What eval runs on the other side: the source in a fresh namespace, then one of its functions.
CALL = "exec(SRC, NS) or NS[FN](*ARGS)"
# The packages a client must share with the cluster (distributed's own list).
CLIENT_PACKAGES = ("python", "dask", "distributed", "msgpack", "cloudpickle", "tornado", "toolz", "numpy", "lz4")
SKEW_S = 1.0
PAYLOAD_BYTES = 64 * 1024


def _remote(fn: str, *args: Any) -> tuple[str, dict[str, Any]]:
    """eval's arguments that call diagnose_remote.FN(*args) on the other side."""
    return CALL, {"SRC": REMOTE_SOURCE, "NS": {"__name__": "dvc_diagnose"}, "FN": fn, "ARGS": list(args)}


def security_from(scheduler: str, tls_dir: Path | None, ca: str | None, cert: str | None, key: str | None) -> Any:
    """Mutual TLS from --tls-dir (this project's layout) or dask's own three flags."""
    from distributed.security import Security

    if tls_dir is not None:
        from .client import security_for

        return security_for(scheduler, tls_dir)
    given = {"--tls-ca-file": ca, "--tls-cert": cert, "--tls-key": key}
    if any(given.values()):
        missing = [flag for flag, v in given.items() if not v]
        if missing:
            raise bad_input(
                f"TLS needs all three of --tls-ca-file, --tls-cert, --tls-key: {', '.join(missing)} missing"
            )
        absent = [f"{flag} {v}" for flag, v in given.items() if v and not Path(v).is_file()]
        if absent:
            raise bad_input(f"no such file: {', '.join(absent)}")
        return Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
    if scheduler.startswith("tls://"):
        raise bad_input(
            f"{scheduler} is a TLS scheduler: give the client's certificate files, "
            "--tls-ca-file CA.pem --tls-cert CERT.pem --tls-key KEY.pem (as dask worker takes them)"
        )
    return None


def check_address(address: str) -> str:
    parts = urlsplit(address)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
        raise bad_input(
            f'--scheduler "{address}" is not a scheduler address: it must be tcp://HOST:PORT or tls://HOST:PORT '
            "(e.g. tcp://192.168.56.11:8786), as `dask scheduler` prints it"
        )
    return address


def host_of(address: str) -> str:
    return urlsplit(address).hostname or ""


def port_of(address: str) -> int:
    return urlsplit(address).port or 0


# --- gathering -------------------------------------------------------------------------


def _events(client: Any, topic: str) -> list[tuple[float, dict[str, Any]]]:
    try:
        return [(t, m) for t, m in client.get_events(topic) if isinstance(m, dict)]
    except Exception:  # an older scheduler without the topic yet
        return []


def _wait_events(client: Any, topic: str, want: int, kind: str, timeout: float) -> list[tuple[float, dict[str, Any]]]:
    deadline = time.monotonic() + timeout
    while True:
        got = [(t, m) for t, m in _events(client, topic) if m.get("kind") == kind]
        if len(got) >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def _dashboard(info: dict[str, Any], scheduler: str, timeout: float) -> dict[str, Any]:
    port = (info.get("services") or {}).get("dashboard")
    if not port:
        return {"ok": False, "missing": True, "error": "the scheduler serves no dashboard"}
    url = f"http://{host_of(scheduler)}:{port}"
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as r:
            return {"ok": r.status == 200, "url": url, "status": r.status}
    except Exception as err:
        return {"ok": False, "url": url, "error": str(err)[:200]}


def _client_reach(targets: list[str], security: Any, timeout: float) -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "dvc_diagnose"}
    exec(REMOTE_SOURCE, ns)  # the same code the workers run, here
    args = security.get_connection_args("client") if security is not None else {}
    return ns["reach"](targets, args, timeout)


def gather(client: Any, scheduler: str, security: Any, timeout: float, reach_timeout: float) -> dict[str, Any]:
    """Every fact the findings are made of, as plain JSON."""
    t0 = time.monotonic()
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # an older distributed: scheduler_info takes no n_workers and lists every worker
        info = client.scheduler_info()
    workers = [
        {
            "address": a,
            "name": str(w.get("name", a)),
            "nthreads": w.get("nthreads"),
            "memory_limit": w.get("memory_limit"),
        }
        for a, w in sorted(info.get("workers", {}).items(), key=lambda kv: str(kv[1].get("name", kv[0])))
    ]
    addresses = [w["address"] for w in workers]
    facts: dict[str, Any] = {"scheduler": {"address": scheduler, "id": info.get("id")}, "workers": workers}

    topic = f"dvc-diagnose-{uuid.uuid4().hex[:12]}"
    try:
        sent = time.time()
        expr, env = _remote("scheduler_probe", topic, addresses, reach_timeout)
        s = client.run_on_scheduler(eval, expr, env)
        back = time.time()
        s["skew"] = round(s["time"] - (sent + back) / 2, 3)
        facts["scheduler"].update(s)
    except Exception as err:
        facts["scheduler"]["error"] = f"{type(err).__name__}: {err}"[:300]
    futures = []
    submitted = time.time()
    for i, a in enumerate(addresses):
        expr, env = _remote("worker_probe", topic, addresses, reach_timeout)
        futures.append(
            client.submit(eval, expr, env, workers=[a], allow_other_workers=False, pure=False, key=f"{topic}-probe-{i}")
        )
    probes = {}
    for t, m in _wait_events(client, topic, len(addresses), "probe", timeout + 2 * reach_timeout):
        m["arrived_after"] = round(t - submitted, 3)
        # Worker clock minus scheduler clock: from the worker's heartbeats when it has them.
        delay = m.get("scheduler_delay")
        m["skew"] = round(-delay if isinstance(delay, (int, float)) else m["time"] - t, 3)
        probes[m["address"]] = m
    facts["probes"] = probes
    if "error" not in facts["scheduler"] and "reach_error" not in facts["scheduler"]:
        seen = _wait_events(client, topic, 1, "scheduler-reach", 2 * reach_timeout + 1)
        if seen:
            facts["scheduler"]["reach"] = seen[0][1]["reach"]

    # A result moved between neighbours: the task on B needs the one computed on A.
    pairs = [(addresses[i], addresses[(i + 1) % len(addresses)]) for i in range(len(addresses))]
    pairs = [(a, b) for a, b in pairs if a != b]
    moves = []
    started = time.time()
    for i, (a, b) in enumerate(pairs):
        data = client.submit(
            eval,
            "b'd' * N",
            {"N": PAYLOAD_BYTES},
            workers=[a],
            allow_other_workers=False,
            pure=False,
            key=f"{topic}-data-{i}",
        )
        expr, env = _remote("moved", data, topic, a)
        moves.append(
            client.submit(eval, expr, env, workers=[b], allow_other_workers=False, pure=False, key=f"{topic}-move-{i}")
        )
        futures += [data, moves[-1]]
    # Waits for the moves the probes say can happen (B reaches A); the others get no more time.
    expected = sum(1 for a, b in pairs if b in probes and probes[b]["reach"].get(a, {}).get("ok"))
    arrived = {
        (m["from"], m["to"]): round(t - started, 3)
        for t, m in _wait_events(client, topic, expected, "moved", timeout if expected else 0.5)
    }
    facts["transfers"] = [
        {"from": a, "to": b, "ok": (a, b) in arrived, "seconds": arrived.get((a, b))} for a, b in pairs
    ]
    client.cancel(futures, force=True)

    mine: dict[str, Any] = {"reach": _client_reach([*addresses, scheduler], security, reach_timeout)}
    ns: dict[str, Any] = {"__name__": "dvc_diagnose"}
    exec(REMOTE_SOURCE, ns)
    mine["versions"] = ns["versions"]()
    mine["addresses"] = ns["addresses"]()
    facts["client"] = mine
    facts["dashboard"] = _dashboard(info, scheduler, reach_timeout)
    facts["seconds"] = round(time.monotonic() - t0, 2)
    return facts


# --- findings --------------------------------------------------------------------------


@dataclass
class Finding:
    id: str
    what: str
    means: str
    fix: list[str]
    workers: list[str] = field(default_factory=list)


def _label(facts: dict[str, Any]) -> dict[str, str]:
    """Worker address → how the report names it: its name, else its address."""
    return {w["address"]: (w["name"] if w["name"] != w["address"] else w["address"]) for w in facts["workers"]}


def _private_ip(probe: dict[str, Any] | None, scheduler_host: str) -> str | None:
    """The worker machine's address on the scheduler's network: the one sharing the longest
    prefix with the scheduler's address."""
    if not probe:
        return None
    mine = [a for a in probe.get("addresses", []) if not a.startswith("127.") and a != "10.0.2.15"]

    def shared(a: str) -> int:
        n = 0
        for x, y in zip(a.split("."), scheduler_host.split("."), strict=False):
            if x != y:
                break
            n += 1
        return n

    return max(mine, key=shared) if mine else None


def _reaches(answer: dict[str, Any] | None, worker_id: Any) -> bool:
    return bool(answer and answer.get("ok") and (worker_id is None or answer.get("id") == worker_id))


def _majority(values: list[str | None]) -> str | None:
    counts = Counter(values)
    return max(counts, key=lambda v: (counts[v], v is not None))


def analyse(facts: dict[str, Any]) -> tuple[list[Finding], list[str]]:
    """The findings (each names its cause and fix) and the notes (facts that need no fix)."""
    findings: list[Finding] = []
    notes: list[str] = []
    label = _label(facts)
    sched = facts["scheduler"]
    sched_host = host_of(sched["address"])
    proto = urlsplit(sched["address"]).scheme
    workers = facts["workers"]
    probes: dict[str, Any] = facts.get("probes", {})
    # The server id a worker gives when asked who it is (scheduler_info's "id" is its name).
    ids = {w["address"]: probes.get(w["address"], {}).get("id") for w in workers}
    if not workers:
        findings.append(
            Finding(
                "no-workers",
                f"the scheduler at {sched['address']} has no worker",
                "nothing can run: no worker registered, or every one lost its connection",
                [f"start one on each machine: dask worker {sched['address']} --host <that machine's private IP>"],
            )
        )
        return findings, notes

    # 1. Addresses: advertised by workers on different machines, or not the worker's own.
    explained: set[str] = set()
    by_host: dict[str, list[str]] = {}
    for w in workers:
        by_host.setdefault(host_of(w["address"]), []).append(w["address"])
    for host, group in by_host.items():
        machines = {tuple(probes[a]["addresses"]) for a in group if a in probes}
        if len(group) > 1 and len(machines) > 1:
            ips = {label[a]: _private_ip(probes.get(a), sched_host) for a in group}
            nat = " (the address VirtualBox's NAT gives every VM)" if host == "10.0.2.15" else ""
            findings.append(
                Finding(
                    "same-address",
                    f"{', '.join(label[a] for a in group)} advertise the same IP, {host}{nat}, from different machines",
                    f"each worker tells the scheduler to reach it at {host}; on each machine that is the machine itself, "
                    "so the scheduler and the other workers reach their own machine instead (or nothing): the workers "
                    "register and take tasks, but their results never come back and one node ends up doing all the work",
                    [
                        f"start each worker with its own private address: dask worker {sched['address']} --host <its IP>"
                        f" ({', '.join(f'{n}: {ip}' for n, ip in ips.items() if ip)})",
                        f"or keep how it listens and say how to reach it: --contact-address {proto}://<its IP>:<port>",
                    ],
                    [label[a] for a in group],
                )
            )
            explained.update(group)
    foreign = [
        a
        for a in (w["address"] for w in workers)
        if a not in explained
        and a in probes
        and host_of(a) not in probes[a].get("addresses", [])
        and _is_ip(host_of(a))
    ]
    if foreign:
        ips = {label[a]: _private_ip(probes.get(a), sched_host) for a in foreign}
        findings.append(
            Finding(
                "foreign-address",
                f"{', '.join(f'{label[a]} advertises {host_of(a)}' for a in foreign)}: not an address of "
                f"{'its' if len(foreign) == 1 else 'their'} machine",
                "the scheduler, the other workers and clients connect to the advertised address to fetch results; "
                "an address the worker's machine does not have leads nowhere (or to another machine)",
                [
                    f"start the worker with its own private address: dask worker {sched['address']} --host <its IP>"
                    f" ({', '.join(f'{n}: {ip}' for n, ip in ips.items() if ip)}),"
                    f" or fix --contact-address {proto}://<its IP>:<port>"
                ],
                [label[a] for a in foreign],
            )
        )
        explained.update(foreign)

    # 2. Reachability: who can open a Dask connection to whom.
    sched_reach = sched.get("reach", {})
    for w in workers:
        a = w["address"]
        if a in explained or a not in probes:
            continue
        p = probes[a]
        others = [o for o in workers if o["address"] != a and o["address"] in probes]
        by_sched = _reaches(sched_reach.get(a), ids[a]) if sched_reach else None
        by_peers = {label[o["address"]]: _reaches(probes[o["address"]]["reach"].get(a), ids[a]) for o in others}
        if by_sched is False and not any(by_peers.values()):
            itself = _reaches(p.get("self"), ids[a])
            port = port_of(a)
            findings.append(
                Finding(
                    "blocked-port",
                    f"{label[a]}'s port {port} accepts no connection from the scheduler or the other workers"
                    + (" (it does from its own machine)" if itself else ""),
                    "the worker reached the scheduler itself, so it registered and gets tasks, but nobody can connect "
                    "back to it: a firewall on its machine (or between) drops that port. Its results never come back",
                    [
                        f"open the port on {label[a]}'s machine: sudo ufw allow {port}/tcp (Ubuntu), "
                        f"sudo firewall-cmd --add-port={port}/tcp (Fedora), or remove the rule that drops it "
                        "(sudo nft list ruleset shows them)",
                        "fixed ports make firewall rules easy: dask worker ... --worker-port <port> --nanny-port <port>",
                    ],
                    [label[a]],
                )
            )
            explained.add(a)
        else:
            cannot = [n for n, ok in by_peers.items() if not ok] + (["the scheduler"] if by_sched is False else [])
            if cannot:
                findings.append(
                    Finding(
                        "unreachable",
                        f"{', '.join(cannot)} cannot connect to {label[a]} at {a}",
                        "a route or a firewall between those machines drops the connection: "
                        "work that needs a result from it there stalls",
                        [
                            f"from {cannot[0]}'s machine, try: python -c \"import socket; socket.create_connection(('{host_of(a)}', {port_of(a)}), 3)\"; "
                            "then check routes (ip route) and firewalls on both sides"
                        ],
                        [label[a]],
                    )
                )
                explained.add(a)

    # 3. The probe task on each worker.
    late = [w["address"] for w in workers if w["address"] not in probes]
    if late:
        findings.append(
            Finding(
                "probe-not-run",
                f"a small task pinned to {', '.join(label[a] for a in late)} did not run within the time given",
                "the worker is registered but does not run tasks: all its threads are busy with long tasks, it is "
                "paused (memory above its pause threshold), or its event loop is blocked",
                [
                    "look at the dashboard's Workers page (memory, paused) and Task Stream",
                    "if it stays stuck: restart it (the nanny restarts it: client.restart_workers([...]))",
                ],
                [label[a] for a in late],
            )
        )

    # 4. Results moved between workers (only where the connection itself was not the cause).
    for t in facts.get("transfers", []):
        if t["ok"] or t["from"] in explained or t["to"] in explained or t["from"] in late or t["to"] in late:
            continue
        findings.append(
            Finding(
                "transfer-failed",
                f"a result on {label[t['from']]} did not reach {label[t['to']]}",
                "the connection opens, yet moving data fails: a TLS or protocol mismatch, or a worker out of memory",
                ["read both workers' logs around now (dask worker's stderr; npm run logs on this project's clusters)"],
                [label[t["from"]], label[t["to"]]],
            )
        )

    # 5. Versions: each machine against the majority of scheduler + workers.
    members = {"the scheduler": sched.get("versions")} if sched.get("versions") else {}
    members.update({label[a]: p["versions"] for a, p in probes.items()})
    if len(members) > 1:
        packages = sorted({k for v in members.values() for k in v})
        usual = {k: _majority([v.get(k) for v in members.values()]) for k in packages}
        for who, v in members.items():
            off = [(k, v.get(k), usual[k]) for k in packages if v.get(k) != usual[k]]
            if off:
                text = ", ".join(f"{k} {have or 'missing'} (elsewhere {want or 'absent'})" for k, have, want in off)
                pins = " ".join(f"{k}=={want}" for k, have, want in off if want and k != "python")
                first = f"on {who}'s machine: python -m pip install {pins}" if pins else f"use the same Python on {who}"
                findings.append(
                    Finding(
                        "versions",
                        f"{who} differs from the rest of the cluster: {text}",
                        "a task's function and data are pickled on one machine and unpickled on another: different "
                        "versions may fail, or silently compute something else (Dask itself only warns)",
                        [first, "better: one lock file for every machine (pip install -r requirements.lock)"],
                        [who] if who != "the scheduler" else [],
                    )
                )
    mine = facts.get("client", {}).get("versions") or {}
    ref = sched.get("versions") or next(iter(members.values()), {})
    differ = [k for k in CLIENT_PACKAGES if k in ref and mine.get(k) != ref.get(k)]
    if mine and differ:
        notes.append(
            "this diagnosing client differs from the cluster in "
            + ", ".join(f"{k} ({mine.get(k) or 'missing'} here, {ref[k]} there)" for k in differ)
            + ": your own client must match the cluster, this one only looks"
        )

    # 6. Threads and memory against the machine.
    over = [(a, p) for a, p in probes.items() if p.get("nthreads") and p.get("cores") and p["nthreads"] > p["cores"]]
    if over:
        findings.append(
            Finding(
                "threads",
                "; ".join(
                    f"{label[a]} runs {p['nthreads']} threads on {p['cores']} core{'s' * (p['cores'] > 1)}"
                    for a, p in over
                ),
                "threads beyond the cores wait for one another: tasks take longer and the scheduler's estimates "
                "are wrong, so the work is badly spread",
                [f"dask worker ... --nthreads {p['cores']} on {label[a]}" for a, p in over],
                [label[a] for a, _ in over],
            )
        )
    big = [
        (a, p)
        for a, p in probes.items()
        if p.get("memory_limit") and p.get("memory") and p["memory_limit"] > p["memory"] * 1.02
    ]
    if big:
        findings.append(
            Finding(
                "memory",
                "; ".join(
                    f"{label[a]}'s memory limit is {_gib(p['memory_limit'])}, its machine has {_gib(p['memory'])}"
                    for a, p in big
                ),
                "Dask spills, pauses and restarts a worker by fractions of its limit: above the machine's memory the "
                "system kills it first (out of memory) and nothing is spilled",
                [
                    f"dask worker ... --memory-limit {_gib(p['memory'] * 0.9).replace(' ', '')} on {label[a]}"
                    for a, p in big
                ],
                [label[a] for a, _ in big],
            )
        )

    # 7. Clocks.
    skewed = [(label[a], p["skew"]) for a, p in probes.items() if abs(p.get("skew", 0)) > SKEW_S]
    if abs(sched.get("skew", 0) or 0) > SKEW_S:
        skewed.append(("the scheduler (against this client)", sched["skew"]))
    if skewed:
        findings.append(
            Finding(
                "clock",
                "clocks apart: " + ", ".join(f"{n} {s:+.1f} s" for n, s in skewed),
                "Dask's timings (task stream, profiles, the time a task took) mix the machines' clocks",
                ["on each machine: sudo timedatectl set-ntp true (or install chrony)"],
                [n for n, _ in skewed if not n.startswith("the scheduler")],
            )
        )

    # 8. The dashboard.
    d = facts.get("dashboard", {})
    if not d.get("ok"):
        if d.get("missing"):
            fix = ["install bokeh where the scheduler runs (python -m pip install bokeh) and restart the scheduler"]
        else:
            fix = [f"start the scheduler with --dashboard-address {sched_host}:8787 and open that port to this machine"]
        findings.append(
            Finding(
                "dashboard",
                f"the dashboard does not answer ({d.get('url', 'none')}: {d.get('error') or d.get('status')})",
                "the dashboard is where you watch tasks, memory and workers",
                fix,
            )
        )
    client_fail = [
        label[w["address"]]
        for w in workers
        if not _reaches(facts.get("client", {}).get("reach", {}).get(w["address"]), ids[w["address"]])
    ]
    if (
        client_fail
        and len(client_fail) == len(workers)
        and not any(f.id in ("same-address", "foreign-address") for f in findings)
    ):
        notes.append(
            "this client cannot connect to the workers themselves (only to the scheduler): results come through the "
            "scheduler, which is Dask's default; Client(direct_to_workers=True) would not work from here"
        )
    return findings, notes


def _is_ip(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


# --- report ----------------------------------------------------------------------------


def render(facts: dict[str, Any], findings: list[Finding], notes: list[str]) -> str:
    label = _label(facts)
    sched = facts["scheduler"]
    probes = facts.get("probes", {})
    ids = {w["address"]: probes.get(w["address"], {}).get("id") for w in facts["workers"]}
    dist = (sched.get("versions") or {}).get("distributed", "?")
    lines = [
        f"diagnose: scheduler {sched['address']} (distributed {dist}), {len(facts['workers'])} worker"
        f"{'s' * (len(facts['workers']) != 1)}, looked at in {facts.get('seconds', 0):.1f} s",
        "",
        f"  {'worker':<8} {'advertises':<28} {'reached by: scheduler':<22} {'workers':<8} {'client':<7} "
        f"{'probe':<9} {'threads/cores':<14} {'memory limit/machine':<21} clock",
    ]
    for w in facts["workers"]:
        a = w["address"]
        p = probes.get(a)
        sr = sched.get("reach", {}).get(a)
        others = [o for o in probes if o != a]
        peers_ok = sum(_reaches(probes[o]["reach"].get(a), ids[a]) for o in others)
        cr = facts.get("client", {}).get("reach", {}).get(a)
        by_sched = ("yes" if _reaches(sr, ids[a]) else "NO") if sr else "?"
        by_client = "yes" if _reaches(cr, ids[a]) else "no"
        ran = f"{p['arrived_after']:.2f} s" if p else "NOT RUN"
        threads = f"{p['nthreads']}/{p['cores']}" if p else "?"
        mem = f"{_gib(p['memory_limit'])}/{_gib(p['memory'])}" if p and p.get("memory_limit") else "?"
        clock = f"{p['skew']:+.2f} s" if p else "?"
        lines.append(
            f"  {label[a]:<8} {a:<28} {by_sched:<22} {f'{peers_ok}/{len(others)}':<8} {by_client:<7} "
            f"{ran:<9} {threads:<14} {mem:<21} {clock}"
        )
    moved = facts.get("transfers", [])
    if moved:
        shown = [
            f"{label[t['from']]}→{label[t['to']]} " + (f"{t['seconds']:.2f} s" if t["ok"] else "FAILED") for t in moved
        ]
        lines.append("  results moved: " + ", ".join(shown))
    d = facts.get("dashboard", {})
    lines.append(f"  dashboard: {d.get('url', 'none')} {'answers' if d.get('ok') else 'does not answer'}")
    lines.append("")
    for n in notes:
        lines.append(f"  note: {n}")
    if notes:
        lines.append("")
    if not findings:
        lines.append(
            "healthy: every worker is reachable at the address it advertises, runs tasks, shares results; same versions everywhere"
        )
        return "\n".join(lines)
    lines.append(f"{len(findings)} finding{'s' * (len(findings) != 1)}:")
    for i, f in enumerate(findings, 1):
        lines += ["", f"{i}. {f.what}", f"   what it means: {f.means}"]
        lines += [f"   fix: {x}" for x in f.fix]
    return "\n".join(lines)


def run(
    scheduler: str | None,
    tls_dir: Path | None,
    ca: str | None,
    cert: str | None,
    key: str | None,
    timeout: float,
    as_json: bool,
) -> int:
    from distributed import Client

    if scheduler is None:
        import dask

        scheduler = dask.config.get("scheduler-address", None)
        if not scheduler:
            raise bad_input("which cluster? give --scheduler tcp://HOST:PORT (or tls://HOST:PORT with the TLS files)")
    check_address(scheduler)
    security = security_from(scheduler, tls_dir, ca, cert, key)
    from .client import _as_diagnostic

    _as_diagnostic()
    os.environ.setdefault("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", f"{max(3, int(timeout))}s")
    import distributed

    # Another distributed on the scheduler: a Client of this one may not even start there.
    theirs = _asked_version(scheduler, security, timeout)
    if theirs and theirs != distributed.__version__:
        raise _other_distributed(None, theirs)
    try:
        client = Client(scheduler, security=security, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as err:
        finding = Finding(
            "scheduler-unreachable",
            f"cannot connect to the scheduler at {scheduler} within {timeout:g} s ({str(err)[:200]})",
            "no client can use this cluster: the scheduler is not running there, or a firewall drops its port",
            [
                f"on that machine: dask scheduler --host {host_of(scheduler)} --port {port_of(scheduler)}, and check it with ss -ltn",
                f"open the port: sudo ufw allow {port_of(scheduler)}/tcp",
            ],
        )
        _emit({"scheduler": {"address": scheduler}, "workers": []}, [finding], [], as_json, unreachable=True)
        return 1
    except ImportError as err:  # this project's scheduler refuses a client with other versions
        raise RuntimeCliError(str(err)) from None
    except Exception as err:  # another distributed on the scheduler: its protocol differs
        raise _other_distributed(err, _asked_version(scheduler, security, timeout)) from None
    try:
        facts = gather(client, scheduler, security, timeout, max(min(3.0, timeout), timeout / 5))
    except Exception as err:
        theirs = _scheduler_distributed(client)
        import distributed

        if theirs and theirs != distributed.__version__:
            raise _other_distributed(err, theirs) from None
        raise
    finally:
        client.close(timeout=5)
    findings, notes = analyse(facts)
    _emit(facts, findings, notes, as_json)
    return 1 if findings else 0


def _other_distributed(err: Exception | None, theirs: str | None) -> RuntimeCliError:
    """A client of this distributed and that scheduler: Dask's protocol is only promised
    between equal versions, so the look needs a Python with the cluster's."""
    import distributed

    mine = distributed.__version__
    what = (
        f"the scheduler runs distributed {theirs}, this Python {mine}"
        if theirs
        else f"this Python's distributed {mine} cannot talk to that scheduler"
    )
    why = f" ({type(err).__name__}: {str(err)[:160]})" if err else ""
    pip = f" (python -m pip install distributed=={theirs})" if theirs else ""
    wanted = f"distributed {theirs}" if theirs else "the cluster's distributed"
    return bad_input(
        f"{what}{why}: a Dask client must run the cluster's version; give --python a Python with {wanted}{pip}, "
        "such as your own client's"
    )


def _asked_version(scheduler: str, security: Any, timeout: float) -> str | None:
    """The scheduler's distributed, asked with one raw message (its `versions` handler),
    where a Client of this version cannot even start."""
    import asyncio

    from distributed.comm import connect

    async def ask() -> str | None:
        args = security.get_connection_args("client") if security is not None else {}
        comm = await asyncio.wait_for(connect(scheduler, timeout=timeout, **args), timeout)
        try:
            await comm.write({"op": "versions", "reply": True})
            answer = await asyncio.wait_for(comm.read(), timeout)
            return answer["packages"]["distributed"]
        finally:
            await comm.close()

    try:
        return asyncio.run(ask())
    except Exception:
        return None


def _scheduler_distributed(client: Any) -> str | None:
    try:
        return client.get_versions(check=False)["scheduler"]["packages"]["distributed"]
    except Exception:
        return None


def _emit(
    facts: dict[str, Any], findings: list[Finding], notes: list[str], as_json: bool, unreachable: bool = False
) -> None:
    if as_json:
        out = {"healthy": not findings, "findings": [asdict(f) for f in findings], "notes": notes, "facts": facts}
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
    elif unreachable:
        f = findings[0]
        sys.stdout.write(
            f"diagnose: {f.what}\n   what it means: {f.means}\n" + "".join(f"   fix: {x}\n" for x in f.fix)
        )
    else:
        sys.stdout.write(render(facts, findings, notes) + "\n")
