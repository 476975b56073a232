"""The systemd unit of a service, rendered purely: quoting of argv and environment the way
systemd.syntax reads them, and the status read back from `systemctl show`."""

from pathlib import Path

import pytest

from dask_vm_runtime.errors import RuntimeCliError
from dask_vm_runtime.services import systemd
from dask_vm_runtime.services.definition import ServiceDef

SPEC = ServiceDef(
    name="worker",
    argv=("/opt/dvc/venv/bin/dask", "worker", "tls://192.168.56.11:8786", "--name", "node 2"),
    env={"B": 'say "hi" 100%', "A": "$HOME"},
    cwd="/opt/dvc",
)


def render(spec=SPEC):
    return systemd.render_unit(
        spec,
        user="vagrant",
        group="vagrant",
        env=spec.env,
        log_path="/opt/dvc/logs/worker.log",
        definition_path="/opt/dvc/etc/worker.json",
    )


def test_unit_quotes_every_word_and_escapes_specifiers_and_dollars():
    unit = render()
    assert 'ExecStart="/opt/dvc/venv/bin/dask" "worker" "tls://192.168.56.11:8786" "--name" "node 2"' in unit
    assert 'Environment="A=$HOME"' in unit  # systemd expands no $ in Environment=
    assert 'Environment="B=say \\"hi\\" 100%%"' in unit
    assert unit.index('Environment="A=') < unit.index('Environment="B=')  # sorted: same inputs, same bytes
    assert "Restart=always" in unit and "KillMode=control-group" in unit and "StartLimitIntervalSec=0" in unit


def test_unit_is_deterministic():
    assert render() == render()


def test_relative_program_is_refused():
    with pytest.raises(RuntimeCliError, match="must be an absolute path"):
        render(ServiceDef(name="scheduler", argv=("dask", "scheduler"), env={}, cwd="/"))


def test_newline_in_environment_is_refused():
    with pytest.raises(RuntimeCliError, match="holds a newline"):
        render(ServiceDef(name="worker", argv=("/bin/true",), env={"X": "a\nb"}, cwd="/"))


def test_status_from_show():
    props = systemd.parse_show(
        "ActiveState=active\nSubState=running\nMainPID=4242\nNRestarts=3\nActiveEnterTimestamp=@1700000000\n"
    )
    status = systemd.status_from_show("worker", props)
    assert status["running"] is True and status["pid"] == 4242 and status["restarts"] == 3
    assert status["since"].startswith("2023-11-14T22:13:20")
    down = systemd.status_from_show("worker", systemd.parse_show("ActiveState=failed\nSubState=failed\nMainPID=0\n"))
    assert down["running"] is False and down["pid"] is None and down["state"] == "failed/failed"


def test_a_user_unit_runs_as_its_user_and_is_wanted_by_the_users_default_target():
    spec = ServiceDef(
        name="worker",
        argv=("/home/lea/.dask-vm-cluster/c/venv/bin/dask", "worker"),
        env={"A": "1"},
        cwd="/home/lea/.dask-vm-cluster/c",
    )
    text = systemd.render_unit(
        spec, user="lea", group="lea", env=spec.env, log_path="/l.log", definition_path="/d.json", user_mode=True
    )
    assert "User=" not in text and "Group=" not in text
    assert "WantedBy=default.target" in text
    assert "Restart=always" in text
    assert systemd.USER.systemctl("start", "dvc-worker.service") == [
        "systemctl",
        "--user",
        "start",
        "dvc-worker.service",
    ]
    assert systemd.USER.privileged(["sh", "-c", "x"]) == ["sh", "-c", "x"]
    assert str(systemd.USER.unit_dir).endswith("/systemd/user")
    assert systemd.SYSTEM.unit_dir == systemd.UNIT_DIR


def test_unit_names_are_plain_on_a_vm_and_per_folder_elsewhere() -> None:
    assert systemd.unit_name("worker") == "dvc-worker.service"
    assert systemd.unit_name("worker", Path("/opt/dask-vm-cluster")) == "dvc-worker.service"
    a = systemd.unit_name("worker", Path("/home/ana/dvc-a"))
    b = systemd.unit_name("worker", Path("/home/ana/dvc-b"))
    assert a != b
    assert a.startswith("dvc-worker-") and a.endswith(".service")
    assert systemd.unit_name("worker", Path("/home/ana/dvc-a/")) == a
