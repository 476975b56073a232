"""Scheduler preload (``dask scheduler --preload dask_vm_runtime.strict_clients``): the
scheduler refuses a client whose versions differ from the workers'.

When a client connects, the scheduler compares the versions it reports with its own and
the workers' (distributed.versions.error_message) and sends the result back; distributed
fills in only the "warning" part, which the client shows as a VersionMismatchWarning, and
raises ImportError with the "error" part. This preload fills in "error" for clients, by
the rule of client_check.py, so ``Client(...)`` itself fails, naming each package, in
``npm run submit``, in the notebook's kernel, and in any Python on any computer. Workers
are not concerned (their registration goes through the same function with another
source name); the version gate holds the nodes to the lock.

A client that reports the package DIAGNOSTIC (the runtime's own client-versions and
wait-workers) is let in: it is there to show the differences, not to compute.
"""

from __future__ import annotations

from typing import Any

import distributed.versions as versions

from .client_check import client_mismatches, refusal

DIAGNOSTIC = "dask-vm-cluster-diagnostic"
_original = versions.error_message


def strict_error_message(scheduler: Any, workers: Any, source: Any, source_name: str = "Client") -> dict[str, str]:
    out = _original(scheduler, workers, source, source_name=source_name)
    if source_name != "Client":
        return out
    if isinstance(source, dict) and DIAGNOSTIC in (source.get("packages") or {}):
        return out
    found = client_mismatches({"client": source, "scheduler": scheduler, "workers": dict(workers or {})})
    if found:
        out = {**out, "error": refusal(found)}
    return out


def dask_setup(scheduler: Any) -> None:
    versions.error_message = strict_error_message  # type: ignore[assignment]
