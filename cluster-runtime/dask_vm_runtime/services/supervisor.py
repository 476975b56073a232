"""Services without systemd (the local provider: each node is a network namespace on the
host, and the command already runs inside it). A small daemon per service plays the part
of a systemd unit with Restart=always and KillMode=control-group:

- `start` double-forks a supervisor (new session, stdin from /dev/null, output to
  ROOT/logs/NAME.log) and returns once the service's process has been executed;
- the supervisor restarts the process whenever it exits (1 s, doubling to 5 s, back to
  1 s after 30 s of uptime) and records itself in ROOT/run/NAME.pid and NAME.state.json;
- `stop` sends it SIGTERM; it terminates the service's process group and every process
  descended from it (it is a child subreaper, so orphans of the nanny come back to it),
  waits up to 10 s, then SIGKILLs whatever is left.

Liveness is an flock on ROOT/run/NAME.lock that the supervisor holds for its whole life,
so a supervisor killed with SIGKILL never looks alive, whatever its pid file says.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import pwd
import select
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RuntimeCliError
from . import definition
from .definition import ServiceDef, ServicePaths

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 5.0
BACKOFF_RESET_AFTER_S = 30.0
STOP_GRACE_S = 10.0
# How long `start` waits for the supervisor to report that the service was executed.
READY_TIMEOUT_S = 30.0
# The supervisor needs STOP_GRACE_S to stop its service; `stop` gives it a little more.
STOP_WAIT_S = STOP_GRACE_S + 5.0

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
HANDLED_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}

_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    _libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


# --- the process table -------------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgrp: int
    state: str

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")


def proc_info(pid: int) -> ProcInfo | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name sits in parentheses and may itself hold spaces or parentheses.
    fields = data[data.rindex(")") + 2 :].split()
    return ProcInfo(pid=pid, ppid=int(fields[1]), pgrp=int(fields[2]), state=fields[0])


def all_procs() -> list[ProcInfo]:
    result = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = proc_info(int(entry))
            if info:
                result.append(info)
    return result


def is_alive(pid: int) -> bool:
    info = proc_info(pid)
    return bool(info and info.alive)


def service_processes(pgid: int | None, ancestor: int | None) -> list[int]:
    """Live processes of the service: members of its process group, and every process
    descended from `ancestor` (the supervisor), whatever group or session it moved to."""
    procs = all_procs()
    by_parent: dict[int, list[int]] = {}
    for p in procs:
        by_parent.setdefault(p.ppid, []).append(p.pid)
    descendants: set[int] = set()
    if ancestor is not None:
        todo = list(by_parent.get(ancestor, []))
        while todo:
            pid = todo.pop()
            if pid not in descendants:
                descendants.add(pid)
                todo.extend(by_parent.get(pid, []))
    return sorted(
        p.pid
        for p in procs
        if p.alive and p.pid != ancestor and ((pgid is not None and p.pgrp == pgid) or p.pid in descendants)
    )


def signal_all(pids: list[int], pgid: int | None, sig: int) -> None:
    if pgid is not None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


# --- files -------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _supervisor_pid(paths: ServicePaths) -> int | None:
    """The pid in NAME.pid if that process is alive and is our supervisor for NAME (a
    stale file may name a pid the kernel has since given to someone else)."""
    try:
        pid = int(paths.pid.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    argv = _cmdline(pid)
    if is_alive(pid) and "dask_vm_runtime" in argv and paths.name in argv:
        return pid
    return None


@contextmanager
def _control_lock(paths: ServicePaths) -> Iterator[None]:
    fd = os.open(paths.control_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ensure_dirs(paths: ServicePaths) -> None:
    paths.pid.parent.mkdir(parents=True, exist_ok=True)
    paths.log.parent.mkdir(parents=True, exist_ok=True)


def _kill_leftovers(paths: ServicePaths) -> None:
    """After a supervisor died without stopping its service (SIGKILL, OOM killer), its
    process group may still run and hold the service's ports: end it."""
    state = _read_json(paths.state) or {}
    pgid = state.get("child_pid")
    if not isinstance(pgid, int):
        return
    left = service_processes(pgid, None)
    if not left:
        return
    signal_all(left, pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while service_processes(pgid, None) and time.monotonic() < deadline:
        time.sleep(0.1)
    signal_all(service_processes(pgid, None), pgid, signal.SIGKILL)


# --- the supervisor daemon ---------------------------------------------------------


class SpawnError(Exception):
    """The service's program could not be executed (missing, not executable, bad cwd)."""


def _now_iso() -> str:
    return definition.iso_utc(time.time())


def spawn(argv: tuple[str, ...], env: dict[str, str], cwd: str, log_fd: int) -> int:
    """fork + exec of the service in a new session (its own process group, which `stop`
    kills as a whole). An exec failure comes back through a close-on-exec pipe."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    max_fd = os.sysconf("SC_OPEN_MAX")
    pid = os.fork()
    if pid == 0:
        try:
            os.close(err_r)
            os.setsid()
            # If the supervisor is killed outright, the service is told to stop too.
            _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.closerange(3, err_w)
            os.closerange(err_w + 1, max_fd)
            os.chdir(cwd)
            os.execvpe(argv[0], list(argv), env)
        except BaseException as exc:
            try:
                os.write(err_w, f"{type(exc).__name__}: {exc}".encode())
            finally:
                os._exit(127)
    os.close(err_w)
    message = b""
    while chunk := os.read(err_r, 4096):
        message += chunk
    os.close(err_r)
    if message:
        os.waitpid(pid, 0)
        raise SpawnError(f"cannot execute {argv[0]} in {cwd}: {message.decode(errors='replace')}")
    return pid


@dataclass
class Supervisor:
    paths: ServicePaths
    spec: ServiceDef
    env: dict[str, str]
    log_fd: int
    child_pid: int | None = None
    child_started: float = 0.0
    child_started_at: str | None = None
    restarts: int = 0
    backoff: float = BACKOFF_FIRST_S
    last_exit: dict[str, Any] | None = None
    started_at: str = field(default_factory=_now_iso)

    def log(self, message: str) -> None:
        line = f"{_now_iso()} dvc-supervisor[{os.getpid()}] {self.spec.name}: {message}\n"
        os.write(self.log_fd, line.encode())

    def write_state(self) -> None:
        _write_atomic(
            self.paths.state,
            json.dumps(
                {
                    "supervisor_pid": os.getpid(),
                    "child_pid": self.child_pid,
                    "started_at": self.child_started_at,
                    "supervisor_started_at": self.started_at,
                    "restarts": self.restarts,
                    "last_exit": self.last_exit,
                    "argv": list(self.spec.argv),
                },
                indent=2,
            ),
        )

    def spawn_child(self) -> None:
        self.child_pid = spawn(self.spec.argv, self.env, self.spec.cwd, self.log_fd)
        self.child_started = time.monotonic()
        self.child_started_at = _now_iso()
        self.log(f"started pid {self.child_pid}: {shlex.join(self.spec.argv)}")

    def next_delay(self, uptime: float) -> float:
        if uptime >= BACKOFF_RESET_AFTER_S:
            self.backoff = BACKOFF_FIRST_S
        delay = self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX_S)
        return delay

    def reap(self) -> int | None:
        """Reaps every exited child (orphans re-parented to us included); returns the
        wait status of the service's process if it was among them."""
        status: int | None = None
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.child_pid:
                status = wait_status
        return status

    def loop(self) -> int:
        restart_at: float | None = None
        while True:
            info: signal.struct_siginfo | None
            if restart_at is None:
                info = signal.sigwaitinfo(HANDLED_SIGNALS)
            else:
                remaining = restart_at - time.monotonic()
                info = signal.sigtimedwait(HANDLED_SIGNALS, remaining) if remaining > 0 else None
            if info is None:
                restart_at = None
                self.restarts += 1
                try:
                    self.spawn_child()
                except SpawnError as err:
                    self.log(f"{err}; trying again")
                    restart_at = time.monotonic() + self.next_delay(0.0)
                self.write_state()
                continue
            if info.si_signo in (signal.SIGTERM, signal.SIGINT):
                self.shutdown(signal.Signals(info.si_signo).name)
                return 0
            status = self.reap()
            if status is not None:
                uptime = time.monotonic() - self.child_started
                code = os.waitstatus_to_exitcode(status)
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
                self.last_exit = {"pid": self.child_pid, "code": code, "at": _now_iso(), "uptime_s": round(uptime, 3)}
                self.log(f"process ended with {how} after {uptime:.1f} s")
                # As systemd does with KillMode=control-group: what the process left behind
                # (the nanny's worker) goes before the restart, or it would hold the ports.
                self.terminate(self.child_pid)
                self.child_pid = None
                delay = self.next_delay(uptime)
                self.log(f"restarting in {delay:.0f} s")
                restart_at = time.monotonic() + delay
                self.write_state()

    def terminate(self, pgid: int | None) -> None:
        """Ends every process of the service: SIGTERM, up to STOP_GRACE_S, then SIGKILL."""
        me = os.getpid()
        left = service_processes(pgid, me)
        if not left:
            return
        signal_all(left, pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while True:
            self.reap()
            left = service_processes(pgid, me)
            if not left or time.monotonic() >= deadline:
                break
            signal.sigtimedwait({signal.SIGCHLD}, 0.1)
        if left:
            self.log(f"pids {left} still running after {STOP_GRACE_S:.0f} s: SIGKILL")
            signal_all(left, pgid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 5
            while service_processes(pgid, me) and time.monotonic() < kill_deadline:
                self.reap()
                signal.sigtimedwait({signal.SIGCHLD}, 0.1)
        self.reap()

    def shutdown(self, reason: str) -> None:
        self.log(f"stopping ({reason})")
        self.terminate(self.child_pid)
        self.paths.state.unlink(missing_ok=True)
        self.paths.pid.unlink(missing_ok=True)
        self.log("stopped")


def _daemon_main(paths: ServicePaths, spec: ServiceDef, env: dict[str, str], lock_fd: int, ready_fd: int) -> int:
    """Runs in the double-forked daemon; holds lock_fd (inherited, already locked)."""
    os.chdir("/")
    os.umask(0o022)
    log_fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(devnull)
    # Every other inherited descriptor goes: a pipe of whoever ran `start` (ssh, zx)
    # kept open here would make them wait for the daemon to end.
    keep = sorted({lock_fd, ready_fd, log_fd})
    low = 3
    for fd in keep:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # Signals are taken with sigwaitinfo, so none can arrive between two checks.
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)

    sup = Supervisor(paths=paths, spec=spec, env=env, log_fd=log_fd)
    _write_atomic(paths.pid, f"{os.getpid()}\n")
    sup.log(f"supervisor started (pid {os.getpid()})")
    try:
        sup.spawn_child()
    except SpawnError as err:
        sup.log(str(err))
        paths.pid.unlink(missing_ok=True)
        os.write(ready_fd, json.dumps({"ok": False, "error": str(err)}).encode() + b"\n")
        return 1
    sup.write_state()
    os.write(ready_fd, json.dumps({"ok": True, "child_pid": sup.child_pid}).encode() + b"\n")
    os.close(ready_fd)
    return sup.loop()


def _read_ready(fd: int, timeout: float) -> dict[str, Any] | None:
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    try:
        value = json.loads(data.split(b"\n", 1)[0])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# --- the commands ------------------------------------------------------------------


def status(root: Path, name: str) -> dict[str, Any]:
    paths = ServicePaths(root, name)
    pid = _supervisor_pid(paths)
    state = (_read_json(paths.state) or {}) if pid else {}
    return {
        "name": name,
        "manager": "supervisor",
        "running": pid is not None,
        "pid": pid,
        "child_pid": state.get("child_pid"),
        "since": state.get("started_at"),
        "restarts": state.get("restarts", 0),
        "last_exit": state.get("last_exit"),
        "log": str(paths.log),
    }


def start(root: Path, name: str) -> dict[str, Any]:
    spec = definition.load(root, name)
    env = definition.service_environment(spec, pwd.getpwuid(os.geteuid()))
    paths = ServicePaths(root, name)
    _ensure_dirs(paths)
    with _control_lock(paths):
        lock_fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            return status(root, name)
        _kill_leftovers(paths)
        paths.pid.unlink(missing_ok=True)
        paths.state.unlink(missing_ok=True)
        ready_r, ready_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            code = 1
            try:
                os.setsid()
                if os.fork() != 0:
                    os._exit(0)
                code = _daemon_main(paths, spec, env, lock_fd, ready_w)
            except BaseException as exc:
                traceback.print_exc()
                try:
                    os.write(
                        ready_w, json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n"
                    )
                except OSError:
                    pass
            os._exit(code)
        os.close(ready_w)
        os.close(lock_fd)
        os.waitpid(pid, 0)
        ready = _read_ready(ready_r, READY_TIMEOUT_S)
    if not ready or not ready.get("ok"):
        why = ready.get("error") if ready else f"no word from the supervisor within {READY_TIMEOUT_S:.0f} s"
        raise RuntimeCliError(
            f"service {name} did not start: {why}; fix the command in {paths.definition} and see {paths.log}"
        )
    return status(root, name)


def stop(root: Path, name: str) -> dict[str, Any]:
    paths = ServicePaths(root, name)
    _ensure_dirs(paths)
    with _control_lock(paths):
        pid = _supervisor_pid(paths)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_WAIT_S
            while is_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)
        _kill_leftovers(paths)
        paths.pid.unlink(missing_ok=True)
        paths.state.unlink(missing_ok=True)
    return status(root, name)


def restart(root: Path, name: str) -> dict[str, Any]:
    stop(root, name)
    return start(root, name)
