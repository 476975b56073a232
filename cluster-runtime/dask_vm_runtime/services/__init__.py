"""The service layer of the node runtime: how the scheduler, a worker and JupyterLab run on
a node. ``definition`` reads a service's definition (argv, environment, paths: written by
provision/services/definitions.ts) and what every manager shares; ``systemd`` runs it as a
unit (system or user); ``supervisor`` runs it under the runtime's own supervisor where
there is no systemd to use. ``python -m dask_vm_runtime service ...`` (cli.py) picks one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MANAGERS = ("systemd", "systemd-user", "supervisor")


def manage(root: Path, name: str, manager: str, action: str) -> dict[str, Any]:
    """start, stop, status or restart a service with its manager; the status as JSON."""
    from . import supervisor, systemd

    if manager == "supervisor":
        return {
            "start": supervisor.start,
            "stop": supervisor.stop,
            "status": supervisor.status,
            "restart": supervisor.restart,
        }[action](root, name)
    mode = systemd.USER if manager == "systemd-user" else systemd.SYSTEM
    return {"start": systemd.start, "stop": systemd.stop, "status": systemd.status, "restart": systemd.restart}[action](
        root, name, mode
    )
