"""Client-side checks against a running cluster: the versions every process reports
(turned into a list of mismatches, since distributed itself only warns) and waiting for
N workers. distributed is imported here only, so the other commands run without it."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .client_check import mismatches
from .errors import RuntimeCliError, bad_input

if TYPE_CHECKING:
    from distributed import Client
    from distributed.security import Security

TLS_FILES = ("ca.pem", "client.pem", "client-key.pem")


def security_for(scheduler: str, tls_dir: Path | None) -> Security | None:
    """Mutual TLS from DIR/ca.pem, DIR/client.pem and DIR/client-key.pem."""
    from distributed.security import Security

    if tls_dir is None:
        if scheduler.startswith("tls://"):
            raise bad_input(f"{scheduler} needs TLS: pass --tls-dir with {', '.join(TLS_FILES)}")
        return None
    missing = [name for name in TLS_FILES if not (tls_dir / name).is_file()]
    if missing:
        raise bad_input(
            f"--tls-dir {tls_dir} lacks {', '.join(missing)}: the TLS stage writes them; re-run it or point --tls-dir at the right folder"
        )
    return Security(
        tls_ca_file=str(tls_dir / "ca.pem"),
        tls_client_cert=str(tls_dir / "client.pem"),
        tls_client_key=str(tls_dir / "client-key.pem"),
        require_encryption=True,
    )


def _as_diagnostic() -> None:
    """Marks this process's clients as the runtime's own diagnostic ones (see
    strict_clients.py): they are let in even when their versions differ, since showing
    the differences is what they are for."""
    import warnings

    import distributed.versions as versions

    from .strict_clients import DIAGNOSTIC

    if getattr(versions.get_versions, "dvc_diagnostic", False):
        return
    # The differences are this client's report, not a warning to it.
    warnings.filterwarnings("ignore", category=versions.VersionMismatchWarning)
    plain = versions.get_versions

    def marked(packages: Any = None) -> dict[str, dict[str, Any]]:
        out = plain(packages)
        return {**out, "packages": {**out["packages"], DIAGNOSTIC: "1"}}

    marked.dvc_diagnostic = True  # type: ignore[attr-defined]
    versions.get_versions = marked  # type: ignore[assignment]


def _without_marker(entry: Any) -> Any:
    from .strict_clients import DIAGNOSTIC

    if not isinstance(entry, Mapping):
        return entry
    return {**entry, "packages": {k: v for k, v in entry.get("packages", {}).items() if k != DIAGNOSTIC}}


def connect(scheduler: str, tls_dir: Path | None, timeout: float) -> Client:
    from distributed import Client

    _as_diagnostic()
    security = security_for(scheduler, tls_dir)
    try:
        return Client(scheduler, security=security, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise RuntimeCliError(
            f"cannot connect to the scheduler at {scheduler} within {timeout:g} s: {err}; check that the scheduler service runs (service status scheduler) and that the address and TLS files are right"
        ) from None


def client_versions(scheduler: str, tls_dir: Path | None, timeout: float, packages: list[str]) -> dict[str, Any]:
    from distributed.versions import error_message

    client = connect(scheduler, tls_dir, timeout)
    try:
        # A synchronous client returns the dict itself (the signature also allows a coroutine).
        versions = cast("dict[str, Any]", client.get_versions(check=False, packages=packages))
    finally:
        client.close()
    plain = {
        "scheduler": versions["scheduler"],
        "workers": dict(versions["workers"]),
        "client": _without_marker(versions["client"]),
    }
    return {
        "versions": plain,
        "mismatches": mismatches(plain),
        # distributed's own text for the same comparison, for people reading the report.
        "distributed_warning": error_message(plain["scheduler"], plain["workers"], plain["client"])["warning"],
    }


def _rows(workers: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = [
        {
            "address": addr,
            "name": info.get("name"),
            "host": info.get("host"),
            "nthreads": info.get("nthreads"),
            "memory_limit": info.get("memory_limit"),
            # What a learner watches (npm run status): process memory, bytes spilled to
            # disk, and whether the worker is paused.
            "memory": (info.get("metrics") or {}).get("memory"),
            "spilled": ((info.get("metrics") or {}).get("spilled_bytes") or {}).get("disk"),
            "status": info.get("status"),
        }
        for addr, info in workers.items()
    ]
    return sorted(rows, key=lambda r: (str(r["name"]), r["address"]))


def _satisfied(workers: Mapping[str, Mapping[str, Any]], want: int | list[str]) -> tuple[bool, list[str], list[str]]:
    seen = sorted(str(w.get("name")) for w in workers.values())
    if isinstance(want, int):
        return len(workers) >= want, seen, []
    missing = [n for n in want if n not in seen]
    return not missing, seen, missing


def _timed_out(
    scheduler: str, want: int | list[str], timeout: float, seen: list[str], missing: list[str]
) -> RuntimeCliError:
    what = (
        f"only {len(seen)} of {want} workers registered"
        if isinstance(want, int)
        else f"no worker named {', '.join(missing)} registered"
    )
    return RuntimeCliError(
        f"{what} at {scheduler} within {timeout:g} s ({', '.join(seen) or 'none'}); check the worker services and their logs (npm run logs)"
    )


def wait_workers_dashboard(
    scheduler: str, dashboard: str, want: int | list[str], timeout: float
) -> list[dict[str, Any]]:
    """wait_workers through the scheduler's HTTP dashboard (/json/identity.json, part of
    distributed's default routes) with the standard library only: no `import distributed`,
    which costs 1-2 s natively and 20 s or more of CPU on a VM under qemu emulation. The
    identity's address must be the scheduler's, so a stale dashboard on the port counts
    as not ready."""
    import urllib.error
    import urllib.request

    if isinstance(want, int) and want < 0:
        raise bad_input(f"--n {want}: the number of workers to wait for must be 0 or more")
    url = dashboard.rstrip("/") + "/json/identity.json"
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    seen: list[str] = []
    missing = want if isinstance(want, list) else []
    # Straight to the private network: a proxy from the environment (HTTP_PROXY) cannot
    # reach it, and the nodes have no route out anyway.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        try:
            with opener.open(url, timeout=max(min(deadline - time.monotonic(), 10.0), 0.5)) as answer:
                identity = json.loads(answer.read().decode("utf-8"))
            if identity.get("address") != scheduler:
                last = f"{url} is the dashboard of {identity.get('address') or 'a scheduler not yet listening'}, not of {scheduler}"
            else:
                workers = identity.get("workers") or {}
                done, seen, missing = _satisfied(workers, want)
                if done:
                    return _rows(workers)
                last = ""
        except (OSError, ValueError) as err:
            last = f"{url}: {getattr(err, 'reason', err)}"
        if time.monotonic() >= deadline:
            if last:
                raise RuntimeCliError(
                    f"cannot reach the scheduler at {scheduler} through its dashboard within {timeout:g} s ({last}); check that the scheduler service runs (service status scheduler)"
                )
            raise _timed_out(scheduler, want, timeout, seen, missing)
        time.sleep(0.25)


def wait_workers(scheduler: str, tls_dir: Path | None, want: int | list[str], timeout: float) -> list[dict[str, Any]]:
    """Lists the registered workers once there are at least `want` of them (a number) or
    once every name in `want` (a list) is among them; 0 or [] lists them as soon as the
    scheduler answers (a readiness probe of the scheduler alone)."""
    if isinstance(want, int) and want < 0:
        raise bad_input(f"--n {want}: the number of workers to wait for must be 0 or more")
    deadline = time.monotonic() + timeout
    client = connect(scheduler, tls_dir, timeout)
    try:
        while True:
            workers = client.scheduler_info(n_workers=-1)["workers"]
            done, seen, missing = _satisfied(workers, want)
            if done:
                break
            if time.monotonic() >= deadline:
                raise _timed_out(scheduler, want, timeout, seen, missing)
            time.sleep(0.25)
    finally:
        client.close()
    return _rows(workers)
