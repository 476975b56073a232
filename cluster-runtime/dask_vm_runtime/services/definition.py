"""Service definitions: ROOT/etc/NAME.json as the provisioning stages write it, and the
files a service owns under ROOT. Both managers (systemd, supervisor) start a service from
the same definition, with the same environment, so a node behaves alike under either."""

from __future__ import annotations

import json
import os
import pwd
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import bad_input

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
ALLOWED_KEYS = ("argv", "env", "cwd")
# The PATH systemd gives a service; the supervisor uses it too so that a service finds the
# same programs under both managers.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ServiceDef:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str


@dataclass(frozen=True)
class ServicePaths:
    root: Path
    name: str

    @property
    def definition(self) -> Path:
        return self.root / "etc" / f"{self.name}.json"

    @property
    def log(self) -> Path:
        return self.root / "logs" / f"{self.name}.log"

    @property
    def pid(self) -> Path:
        return self.root / "run" / f"{self.name}.pid"

    @property
    def state(self) -> Path:
        return self.root / "run" / f"{self.name}.state.json"

    @property
    def lock(self) -> Path:
        """Held by the live supervisor for its whole life."""
        return self.root / "run" / f"{self.name}.lock"

    @property
    def control_lock(self) -> Path:
        """Held by a start or stop command, so two of them never interleave."""
        return self.root / "run" / f"{self.name}.ctl"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise bad_input(
            f'service name "{name}" is not allowed: it names files and a systemd unit; use lowercase letters, digits and dashes, starting with a letter (e.g. scheduler, worker)'
        )
    return name


def check_root(root: Path) -> Path:
    if not root.is_dir():
        raise bad_input(
            f"--root {root} is not a folder: pass the node's runtime folder (the one holding venv/ and etc/)"
        )
    return root.resolve()


def load(root: Path, name: str) -> ServiceDef:
    """Reads and checks ROOT/etc/NAME.json: {"argv": [...], "env": {...}, "cwd": "..."}."""
    path = ServicePaths(root, name).definition
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise bad_input(
            f"no service definition at {path}: the provisioning stage writes it before starting {name}"
        ) from None
    except (OSError, ValueError) as err:
        raise bad_input(f"cannot read service definition {path}: {err}; rewrite it as JSON") from None
    if not isinstance(raw, dict):
        raise bad_input(f'{path} must hold a JSON object like {{"argv": ["..."], "env": {{}}, "cwd": "..."}}')
    unknown = sorted(set(raw) - set(ALLOWED_KEYS))
    if unknown:
        raise bad_input(f"{path}: unknown key(s) {', '.join(unknown)}; allowed keys are {', '.join(ALLOWED_KEYS)}")
    argv = raw.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
        raise bad_input(f'{path}: "argv" must be a non-empty list of non-empty strings, the command and its arguments')
    env = raw.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise bad_input(
            f'{path}: "env" must be an object of string values, e.g. {{"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "30s"}}'
        )
    bad_keys = [k for k in env if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k)]
    if bad_keys:
        raise bad_input(
            f"{path}: environment variable name(s) {', '.join(bad_keys)} are not valid; use letters, digits and _"
        )
    cwd = raw.get("cwd", str(root))
    if not isinstance(cwd, str) or not os.path.isabs(cwd):
        raise bad_input(f'{path}: "cwd" must be an absolute path (default: the root folder {root})')
    return ServiceDef(name=name, argv=tuple(argv), env=dict(env), cwd=cwd)


def owner_of(root: Path) -> pwd.struct_passwd:
    """The user that owns ROOT: services run as that user under both managers."""
    return pwd.getpwuid(root.stat().st_uid)


def service_environment(spec: ServiceDef, owner: pwd.struct_passwd) -> dict[str, str]:
    """What systemd gives a service with User= (PATH, HOME, USER, LOGNAME, SHELL, LANG)
    plus the definition's env; nothing leaks in from the shell that ran `service start`."""
    base = {
        "PATH": DEFAULT_PATH,
        "HOME": owner.pw_dir,
        "USER": owner.pw_name,
        "LOGNAME": owner.pw_name,
        "SHELL": owner.pw_shell or "/bin/sh",
        "LANG": "C.UTF-8",
    }
    base.update(spec.env)
    return base


# How many lines of its log a failed start shows: enough for a traceback's last frames
# and the supervisor's "process ended with exit code N" lines.
LOG_TAIL_LINES = 20


def ended_since_start(status: dict[str, Any]) -> str | None:
    """How the service's process ended since the service was last (re)started, from a
    status of either manager; None while it has never ended. `restart` resets both
    managers' counters (a new supervisor; systemd's NRestarts on an explicit start), so
    any ending seen right after it is the new process dying, not an old one."""
    restarts = status.get("restarts") or 0
    last = status.get("last_exit")
    state = str(status.get("state") or "")
    if not last and not restarts and not state.startswith("failed/") and state != "activating/auto-restart":
        return None
    how = "it ended"
    if isinstance(last, dict) and isinstance(last.get("code"), int):
        code = last["code"]
        how = f"it ended with signal {-code}" if code < 0 else f"it ended with exit code {code}"
        if isinstance(last.get("uptime_s"), int | float):
            how += f" after {last['uptime_s']:.1f} s"
    if restarts:
        how += f"; restarted {restarts} time{'s' if restarts != 1 else ''} since"
    return how


# The line the supervisor writes first in a run (supervisor.py): what precedes it in the
# log is an earlier run's, which a report of this run's failure leaves out.
RUN_START_MARK = ": supervisor started (pid "


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of a log (read from its end: a log may be large), as text, from the
    current supervisor run's first line at most (systemd's runs have no such mark)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace").splitlines()[-lines:]
    starts = [i for i, line in enumerate(text) if RUN_START_MARK in line]
    return text[starts[-1] :] if starts else text


def iso_utc(timestamp: float) -> str:
    """Seconds since the epoch as ISO 8601 in UTC, the one time format of every status."""
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
