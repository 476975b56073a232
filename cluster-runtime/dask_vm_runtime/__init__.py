"""dask_vm_runtime: what runs on every node of a dask-vm-cluster.

Shipped in the runtime bundle and copied into the node's venv by install.sh. Entry point:
``python -m dask_vm_runtime <command>`` (versions, service, client-versions,
wait-workers, run-script). Only the standard library and the packages of the lock are
used, and the modules that need distributed import it lazily, so ``versions`` and
``service`` also run under a bare interpreter.

For your own code on the cluster (``npm run submit``, ``npm run exec``, the notebook):

- ``data_dir()``: where ``npm run data -- push FOLDER`` put your files, on every node
  (``$DVC_DATA``, ROOT/data);
- ``output_dir()``: where a submitted script writes what should come back to your
  computer (``$DVC_OUTPUT``; under results/ on the host after the run);
- ``Client()`` with no arguments connects to the cluster: the connection profile
  (ROOT/etc/client/dask.yaml, through ``$DASK_CONFIG``) holds the address and TLS files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def root_dir() -> Path:
    """The runtime folder of this node: $DVC_ROOT, else the folder of the running venv."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"])
    if sys.prefix == sys.base_prefix:
        raise RuntimeError(
            "not in the cluster's runtime venv and DVC_ROOT is not set: run this on a node (npm run exec / submit / notebook)"
        )
    return Path(os.path.abspath(sys.prefix)).parent


def data_dir() -> Path:
    """Your data on this node: what ``npm run data -- push`` copied ($DVC_DATA, ROOT/data)."""
    return Path(os.environ.get("DVC_DATA") or root_dir() / "data")


def output_dir() -> Path:
    """Where to write what comes back to your computer: $DVC_OUTPUT for a submitted script
    (copied under results/ when it ends), else ROOT/notebooks/output (the notebook's folder,
    brought back when ``npm run notebook`` ends). Created if missing."""
    out = Path(os.environ.get("DVC_OUTPUT") or root_dir() / "notebooks" / "output")
    out.mkdir(parents=True, exist_ok=True)
    return out
