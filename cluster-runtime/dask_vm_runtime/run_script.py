"""``python -m dask_vm_runtime run-script SCRIPT [ARGS...]``: what ``npm run submit``
runs on node 1, in the cluster's runtime venv.

First a client connects through the connection profile ($DASK_CONFIG: address and TLS),
which is what the script's own ``Client()`` will do: a scheduler that is down, or that
refuses this client because its versions differ from the workers'
(strict_clients.py), stops the job here, before any of the script runs, with the reason
(exit 1). Then the script runs as ``python SCRIPT ARGS`` would run it: as __main__, its
folder first on sys.path, sys.argv set; its exit code is this process's.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from .errors import RuntimeCliError, bad_input


def check_cluster(timeout: float) -> None:
    """Connects once as the script's Client() will; raises RuntimeCliError with the reason."""
    from distributed import Client

    try:
        client = Client(timeout=timeout, set_as_default=False)
    except ImportError as err:
        # The scheduler's refusal: its message names each package that differs.
        raise RuntimeCliError(str(err)) from None
    except (OSError, TimeoutError) as err:
        raise RuntimeCliError(f"cannot reach the cluster's scheduler within {timeout:g} s ({err}): npm run status shows what is down") from None
    try:
        workers = len(client.scheduler_info()["workers"])
    finally:
        client.close()
    sys.stderr.write(f"[submit] connected: {workers} worker{'s' if workers != 1 else ''}, versions as the cluster's\n")


def run(script: str, args: list[str], timeout: float) -> int:
    path = Path(script)
    if not path.is_file():
        raise bad_input(f"{script} is not a file in the submitted folder")
    check_cluster(timeout)
    sys.argv = [str(path), *args]
    sys.path.insert(0, str(path.resolve().parent))
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as done:
        code = done.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        sys.stderr.write(f"{code}\n")
        return 1
    return 0
