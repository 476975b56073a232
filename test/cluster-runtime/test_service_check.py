"""`service check`: whether a service's process ended since it was (re)started, and its
log's last lines, which the scheduler and worker stages ask while they wait so that a
service dying as it starts is reported at once. The pure reading of either manager's
status, and the supervisor for real with a program that dies at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dask_vm_runtime
from dask_vm_runtime.services import systemd
from dask_vm_runtime.services.definition import ServicePaths, ended_since_start, log_tail


def test_a_service_that_never_ended_has_nothing_to_report():
    assert ended_since_start({"running": True, "restarts": 0, "last_exit": None}) is None
    # systemd, as `systemctl show` gives it while the first process runs.
    running = systemd.status_from_show(
        "scheduler",
        systemd.parse_show(
            "ActiveState=active\nSubState=running\nMainPID=42\nNRestarts=0\nExecMainCode=0\nExecMainStatus=0\n"
        ),
    )
    assert running["last_exit"] is None
    assert ended_since_start(running) is None


def test_how_it_ended_from_the_supervisor_and_from_systemd():
    sup = {"restarts": 2, "last_exit": {"pid": 7, "code": 127, "at": "2026-12-04T23:40:03Z", "uptime_s": 0.004}}
    assert ended_since_start(sup) == "it ended with exit code 127 after 0.0 s; restarted 2 times since"
    assert (
        ended_since_start({"restarts": 0, "last_exit": {"code": -9, "uptime_s": 3}})
        == "it ended with signal 9 after 3.0 s"
    )
    # systemd between two restarts (RestartSec=1): auto-restart, the exit status of the main process kept.
    props = systemd.parse_show(
        "ActiveState=activating\nSubState=auto-restart\nMainPID=0\nNRestarts=1\nExecMainCode=1\nExecMainStatus=2\n"
    )
    status = systemd.status_from_show("scheduler", props)
    assert status["last_exit"] == {"code": 2}
    assert ended_since_start(status) == "it ended with exit code 2; restarted 1 time since"
    killed = systemd.status_from_show(
        "worker",
        systemd.parse_show("ActiveState=failed\nSubState=failed\nNRestarts=0\nExecMainCode=2\nExecMainStatus=9\n"),
    )
    assert ended_since_start(killed) == "it ended with signal 9"


def test_log_tail_reads_the_last_lines(tmp_path: Path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(5000)), encoding="utf-8")
    assert log_tail(log, 3) == ["line 4997", "line 4998", "line 4999"]
    assert log_tail(tmp_path / "missing.log") == []
    # A supervisor's log holds its earlier runs: the tail starts at the current run.
    log.write_text(
        "t dvc-supervisor[1] scheduler: supervisor started (pid 1)\nold run\nt dvc-supervisor[1] scheduler: stopped\n"
        "t dvc-supervisor[2] scheduler: supervisor started (pid 2)\nError: No such option\n",
        encoding="utf-8",
    )
    assert log_tail(log) == ["t dvc-supervisor[2] scheduler: supervisor started (pid 2)", "Error: No such option"]


def _service(action: str, root: Path, name: str) -> dict:
    """The runtime's CLI as a stage runs it on a node: the supervisor it starts must be a
    `python -m dask_vm_runtime` process (that is how `status` knows it for ours)."""
    env = {**os.environ, "PYTHONPATH": str(Path(dask_vm_runtime.__file__).parents[1])}
    argv = [
        sys.executable,
        "-m",
        "dask_vm_runtime",
        "service",
        action,
        name,
        "--root",
        str(root),
        "--manager",
        "supervisor",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True, timeout=60)
    return json.loads(done.stdout)


def test_the_supervisor_reports_a_program_that_dies_as_it_starts_with_its_log(tmp_path: Path):
    root = tmp_path / "TP $HOME `id`"
    (root / "etc").mkdir(parents=True)
    definition = {
        "argv": ["/bin/sh", "-c", "echo 'Error: No such option: --bogus' >&2; exit 2"],
        "env": {},
        "cwd": str(root),
    }
    (root / "etc" / "dying.json").write_text(json.dumps(definition), encoding="utf-8")
    try:
        started = time.monotonic()
        _service("restart", root, "dying")
        check = _service("check", root, "dying")
        while not check["ended"] and time.monotonic() < started + 5:
            time.sleep(0.1)
            check = _service("check", root, "dying")
        assert check["ended"].startswith("it ended with exit code 2 after ")
        assert "Error: No such option: --bogus" in check["log_tail"]
        assert any("process ended with exit code 2" in line for line in check["log_tail"])
        assert check["log"] == str(ServicePaths(root, "dying").log)
    finally:
        _service("stop", root, "dying")


def test_a_service_that_runs_is_not_reported(tmp_path: Path):
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "sleeper.json").write_text(
        json.dumps({"argv": ["/bin/sleep", "30"], "env": {}, "cwd": str(root)}), encoding="utf-8"
    )
    try:
        _service("restart", root, "sleeper")
        time.sleep(0.5)
        check = _service("check", root, "sleeper")
        assert check["running"] and check["ended"] is None and check["log_tail"] == []
        assert os.path.exists(ServicePaths(root, "sleeper").log)
    finally:
        _service("stop", root, "sleeper")
