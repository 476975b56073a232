"""diagnose.analyse on facts shaped as gather() records them: one cause, one finding; the
consequences of a cause are not reported again; what needs no fix is a note. The real
thing (clusters started by hand in namespaces) is test/diagnose.local.test.ts; the probes'
code itself runs here against the session's local cluster."""

from __future__ import annotations

import copy
from typing import Any

from dask_vm_runtime import diagnose

GIB = 2**30
VERSIONS = {"python": "3.11.2", "dask": "2026.8.0", "distributed": "2026.8.0", "toolz": "1.2.0"}


def ok(worker_id: str) -> dict[str, Any]:
    return {"ok": True, "id": worker_id, "type": "Worker", "ms": 1.0}


def refused() -> dict[str, Any]:
    return {"ok": False, "error": "Connection refused"}


def cluster(n: int = 3) -> dict[str, Any]:
    """A healthy 3-node cluster's facts."""
    addrs = [f"tcp://10.0.0.{10 + i}:4000" for i in range(1, n + 1)]
    wid = {a: f"Worker-{i}" for i, a in enumerate(addrs, 1)}
    probes = {
        a: {
            "kind": "probe",
            "address": a,
            "id": wid[a],
            "name": f"node{i}",
            "addresses": ["127.0.0.1", a.split("//")[1].split(":")[0]],
            "cores": 2,
            "memory": 8 * GIB,
            "nthreads": 1,
            "memory_limit": 2 * GIB,
            "versions": dict(VERSIONS),
            "reach": {b: ok(wid[b]) for b in addrs if b != a},
            "self": ok(wid[a]),
            "arrived_after": 0.1,
            "skew": 0.0,
        }
        for i, a in enumerate(addrs, 1)
    }
    return {
        "scheduler": {
            "address": "tcp://10.0.0.11:8786",
            "versions": dict(VERSIONS),
            "reach": {a: ok(wid[a]) for a in addrs},
            "skew": 0.0,
        },
        "workers": [
            {"address": a, "name": f"node{i}", "nthreads": 1, "memory_limit": 2 * GIB} for i, a in enumerate(addrs, 1)
        ],
        "probes": probes,
        "transfers": [{"from": addrs[i], "to": addrs[(i + 1) % n], "ok": True, "seconds": 0.02} for i in range(n)],
        "client": {"versions": dict(VERSIONS), "reach": {a: ok(wid[a]) for a in addrs}},
        "dashboard": {"ok": True, "url": "http://10.0.0.11:8787", "status": 200},
    }


def ids(facts: dict[str, Any]) -> list[str]:
    return [f.id for f in diagnose.analyse(facts)[0]]


def test_healthy_has_no_finding_and_no_note() -> None:
    assert diagnose.analyse(cluster()) == ([], [])


def test_a_worker_nobody_reaches_is_one_finding_not_also_failed_transfers() -> None:
    f = cluster()
    bad = "tcp://10.0.0.12:4000"
    f["scheduler"]["reach"][bad] = refused()
    for a, p in f["probes"].items():
        if a != bad:
            p["reach"][bad] = refused()
    f["client"]["reach"][bad] = refused()
    for t in f["transfers"]:
        if bad in (t["from"], t["to"]):
            t["ok"] = False
    findings, _ = diagnose.analyse(f)
    assert [x.id for x in findings] == ["blocked-port"]
    assert findings[0].workers == ["node2"]


def test_a_worker_that_reaches_another_server_at_its_address_is_not_reached() -> None:
    """Connecting succeeds but another worker answers (two workers on one advertised address)."""
    f = cluster()
    node2 = "tcp://10.0.0.12:4000"
    f["scheduler"]["reach"][node2] = ok("Worker-1")
    for a, p in f["probes"].items():
        if a != node2:
            p["reach"][node2] = refused()
    assert ids(f) == ["blocked-port"]


def test_a_client_that_reaches_no_worker_is_a_note() -> None:
    f = cluster()
    f["client"]["reach"] = {a: refused() for a in f["client"]["reach"]}
    findings, notes = diagnose.analyse(f)
    assert findings == []
    assert len(notes) == 1 and "direct_to_workers" in notes[0]


def test_a_probe_that_did_not_run_is_named_and_its_transfers_are_not() -> None:
    f = cluster()
    late = "tcp://10.0.0.13:4000"
    del f["probes"][late]
    for t in f["transfers"]:
        if late in (t["from"], t["to"]):
            t["ok"] = False
    findings, _ = diagnose.analyse(f)
    assert [x.id for x in findings] == ["probe-not-run"]
    assert findings[0].workers == ["node3"]


def test_versions_are_judged_against_the_majority_one_finding_per_machine() -> None:
    f = cluster()
    f["probes"]["tcp://10.0.0.13:4000"]["versions"].update({"toolz": "0.12.0", "numpy": "2.3.0"})
    findings, _ = diagnose.analyse(f)
    assert [x.id for x in findings] == ["versions"]
    assert (
        findings[0].what
        == "node3 differs from the rest of the cluster: numpy 2.3.0 (elsewhere absent), toolz 0.12.0 (elsewhere 1.2.0)"
    )
    assert findings[0].fix[0] == "on node3's machine: python -m pip install toolz==1.2.0"


def test_a_client_at_other_versions_is_a_note_not_a_finding() -> None:
    f = cluster()
    f["client"]["versions"]["distributed"] = "2025.1.0"
    findings, notes = diagnose.analyse(f)
    assert findings == []
    assert notes == [
        "this diagnosing client differs from the cluster in distributed (2025.1.0 here, 2026.8.0 there): "
        "your own client must match the cluster, this one only looks"
    ]


def test_shared_cores_are_healthy_threads_above_cores_are_not() -> None:
    f = cluster()  # three 1-thread workers on machines of 2 cores each: fine
    assert ids(f) == []
    f["probes"]["tcp://10.0.0.11:4000"]["nthreads"] = 4
    assert ids(f) == ["threads"]


def test_memory_limit_above_the_machine_clock_skew_and_dashboard() -> None:
    f = cluster()
    f["probes"]["tcp://10.0.0.12:4000"]["memory_limit"] = 16 * GIB
    f["probes"]["tcp://10.0.0.13:4000"]["skew"] = -4.2
    f["dashboard"] = {"ok": False, "missing": True, "error": "the scheduler serves no dashboard"}
    findings, _ = diagnose.analyse(f)
    assert [x.id for x in findings] == ["memory", "clock", "dashboard"]
    assert findings[1].what == "clocks apart: node3 -4.2 s"
    assert "pip install bokeh" in findings[2].fix[0]


def test_same_ip_from_different_machines_is_one_finding_with_each_private_ip() -> None:
    f = cluster()
    renamed: dict[str, str] = {}
    for i, a in enumerate(list(f["probes"]), 1):
        new = f"tcp://10.0.2.15:4000{i}"
        renamed[a] = new
    g = copy.deepcopy(f)
    g["workers"] = [{**w, "address": renamed[w["address"]]} for w in f["workers"]]
    g["probes"] = {}
    for a, p in f["probes"].items():
        p = copy.deepcopy(p)
        p["address"] = renamed[a]
        p["addresses"] = [*p["addresses"], "10.0.2.15"]
        p["reach"] = {renamed[b]: refused() for b in p["reach"]}
        g["probes"][renamed[a]] = p
    g["scheduler"]["reach"] = {renamed[a]: refused() for a in f["scheduler"]["reach"]}
    g["transfers"] = [{**t, "from": renamed[t["from"]], "to": renamed[t["to"]], "ok": False} for t in f["transfers"]]
    findings, _ = diagnose.analyse(g)
    assert [x.id for x in findings] == ["same-address"]
    assert findings[0].workers == ["node1", "node2", "node3"]
    assert "(node1: 10.0.0.11, node2: 10.0.0.12, node3: 10.0.0.13)" in findings[0].fix[0]


def test_bad_addresses_are_bad_input() -> None:
    for bad in ("10.0.0.1:8786", "http://x:1", "tcp://x"):
        try:
            diagnose.check_address(bad)
        except diagnose.RuntimeCliError as err:
            assert err.exit_code == 2
        else:
            raise AssertionError(f"{bad} accepted")


def test_the_probes_run_on_a_real_cluster(client: Any) -> None:
    """gather() against the session's local cluster: every probe answers, results move."""
    address = client.scheduler.address
    facts = diagnose.gather(client, address, None, 20, 2)
    assert len(facts["probes"]) == len(facts["workers"]) == 3
    assert all(t["ok"] for t in facts["transfers"])
    findings, _ = diagnose.analyse(facts)
    assert [f.id for f in findings if f.id != "dashboard"] == []
