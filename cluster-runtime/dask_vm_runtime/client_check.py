"""The rule that decides whether a client may use the cluster: its versions against the
workers' and the scheduler's, by distributed's own rule (distributed.versions.error_message:
every package distributed reports; the scheduler for the packages it matters for), except
that Python is compared by major.minor (a client on another patch level of the same Python
pickles alike; the nodes themselves must match exactly, which the version gate checks).

Dask itself only warns about such a client, and that warning is the most common cause of
confusing failures (functions that do not unpickle, tasks that die on one worker only).
strict_clients.py makes the scheduler refuse it with this rule; client.py reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _packages_of(entry: Any) -> dict[str, Any] | str:
    return dict(entry.get("packages", {})) if isinstance(entry, Mapping) else "UNKNOWN"


def mismatches(versions: Mapping[str, Any], relevant: set[str] | None = None) -> list[dict[str, Any]]:
    """The rule of distributed.versions.error_message, as data: for every package any
    process reports, collect the client's, every worker's and (for the packages the
    scheduler matters for) the scheduler's version; more than one distinct value is a
    mismatch. A process that does not report a package counts as "MISSING". `relevant`:
    the packages the scheduler is compared for (default: distributed's own list)."""
    if relevant is None:
        from distributed.versions import scheduler_relevant_packages

        relevant = set(scheduler_relevant_packages)
    client = _packages_of(versions.get("client"))
    scheduler = _packages_of(versions.get("scheduler"))
    workers = {addr: _packages_of(v) for addr, v in (versions.get("workers") or {}).items()}

    names: set[str] = set()
    for entry in (client, scheduler, *workers.values()):
        if isinstance(entry, dict):
            names.update(entry)

    def version_in(entry: dict[str, Any] | str, pkg: str) -> Any:
        return entry.get(pkg, "MISSING") if isinstance(entry, dict) else entry

    found = []
    for pkg in sorted(names):
        seen = {version_in(client, pkg)}
        worker_versions = {addr: version_in(w, pkg) for addr, w in sorted(workers.items())}
        seen.update(worker_versions.values())
        scheduler_version = version_in(scheduler, pkg)
        if pkg in relevant:
            seen.add(scheduler_version)
        if len(seen) > 1:
            found.append(
                {
                    "package": pkg,
                    "client": version_in(client, pkg),
                    "scheduler": scheduler_version,
                    "scheduler_checked": pkg in relevant,
                    "workers": worker_versions,
                }
            )
    return found


def _major_minor(version: Any) -> Any:
    """3.11.7.final.0 -> 3.11: a client on another patch level of the same Python is
    accepted (pickles are the same); the nodes themselves must match exactly (the gate)."""
    if not isinstance(version, str):
        return version
    return ".".join(version.split(".")[:2])


def client_mismatches(versions: Mapping[str, Any]) -> list[dict[str, Any]]:
    """mismatches(), with the Python version compared by major.minor only."""
    trimmed: dict[str, Any] = {}
    for who in ("client", "scheduler"):
        entry = versions.get(who)
        trimmed[who] = _with_short_python(entry)
    trimmed["workers"] = {addr: _with_short_python(v) for addr, v in (versions.get("workers") or {}).items()}
    return mismatches(trimmed)


def _with_short_python(entry: Any) -> Any:
    if not isinstance(entry, Mapping):
        return entry
    packages = dict(entry.get("packages", {}))
    if "python" in packages:
        packages["python"] = _major_minor(packages["python"])
    return {**entry, "packages": packages}


def describe(found: list[dict[str, Any]]) -> str:
    """One line per package: the client's version, then the workers' (and scheduler's)."""
    lines = []
    for m in found:
        others = sorted(
            {str(v) for v in m["workers"].values()} | ({str(m["scheduler"])} if m["scheduler_checked"] else set())
        )
        lines.append(f"  {m['package']}: this client has {m['client']}, the cluster has {', '.join(others)}")
    return "\n".join(lines)


def refusal(found: list[dict[str, Any]]) -> str:
    """What a refused client is told: which packages differ, and what to do."""
    return (
        "this Dask client is refused by the cluster: its versions differ from the workers'\n"
        + describe(found)
        + "\nRun your code in the cluster's own environment (npm run submit, npm run notebook, npm run exec), "
        "repair a drifting node (npm run verify-versions -- --fix), or, for a Python on your computer, "
        "make one from the cluster's lock (npm run connect -- --venv)."
    )
