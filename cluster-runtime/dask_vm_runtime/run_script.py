"""``python -m dask_vm_runtime run-script SCRIPT [ARGS...]``: what ``npm run submit``
runs on node 1, in the cluster's runtime venv.

First a client connects through the connection profile ($DASK_CONFIG: address and TLS),
which is what the script's own ``Client()`` will do: a scheduler that is down, or that
refuses this client because its versions differ from the workers'
(strict_clients.py), stops the job here, before any of the script runs, with the reason
(exit 1). Then the script runs as ``python SCRIPT ARGS`` would run it: as __main__, its
folder first on sys.path, sys.argv set; its exit code is this process's.

The folder is only on node 1, but the script's tasks run on every worker, and the
scheduler unpickles their graphs: a function the script imports from a module of its own
folder (``from lib.helpers import square``) travels by reference, and neither could
import it. So the folder's modules (its other .py files and its packages) go to the
scheduler and every worker for the job's length, as a zip first on sys.path (a worker
plugin, so a worker that restarts meanwhile gets it too), imported only when a task needs
them (another script of the folder must not run there), and taken away when the job ends;
modules of the same names an earlier job loaded there are forgotten first.
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from .errors import RuntimeCliError, bad_input


def connect(timeout: float) -> Any:
    """Connects once as the script's Client() will; raises RuntimeCliError with the reason."""
    from distributed import Client

    try:
        client = Client(timeout=timeout, set_as_default=False)
    except ImportError as err:
        # The scheduler's refusal: its message names each package that differs.
        raise RuntimeCliError(str(err)) from None
    except (OSError, TimeoutError) as err:
        raise RuntimeCliError(
            f"cannot reach the cluster's scheduler within {timeout:g} s ({err}): npm run status shows what is down"
        ) from None
    workers = len(client.scheduler_info()["workers"])
    sys.stderr.write(f"[submit] connected: {workers} worker{'s' if workers != 1 else ''}, versions as the cluster's\n")
    return client


def module_names(folder: Path, script: Path) -> list[str]:
    """The importable top-level names of a folder: its .py files but the script, and its
    folders that hold Python files (named as Python names)."""
    names = []
    for entry in sorted(folder.iterdir()):
        if (
            entry.is_file()
            and entry.suffix == ".py"
            and entry.resolve() != script.resolve()
            and entry.stem.isidentifier()
        ):
            names.append(entry.stem)
        elif entry.is_dir() and entry.name.isidentifier() and any(entry.rglob("*.py")):
            names.append(entry.name)
    return names


def installed_names() -> frozenset[str]:
    """Top-level names the cluster's Python already has: the standard library and what its
    venv installed (dask, numpy, this runtime...)."""
    from importlib.metadata import packages_distributions

    return frozenset(sys.stdlib_module_names) | frozenset(packages_distributions()) | {"dask_vm_runtime"}


def shippable(names: list[str], taken: frozenset[str]) -> tuple[list[str], list[str]]:
    """The names that can go to the scheduler and the workers, and those that cannot: a
    folder's random.py or dask/ shipped there would replace the module the scheduler itself
    runs on, for every job."""
    return [n for n in names if n not in taken], [n for n in names if n in taken]


def pack_modules(folder: Path, names: list[str], out: Path) -> None:
    """The modules as a zip Python imports from; a folder without __init__.py gets one
    (zipimport knows no namespace packages)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in names:
            single = folder / f"{name}.py"
            if single.is_file():
                z.write(single, f"{name}.py")
                continue
            for py in sorted((folder / name).rglob("*.py")):
                if "__pycache__" not in py.parts:
                    z.write(py, py.relative_to(folder).as_posix())
            for pkg in sorted({p.parent for p in (folder / name).rglob("*.py")} | {folder / name}):
                init = pkg / "__init__.py"
                if not init.exists() and "__pycache__" not in pkg.parts:
                    z.writestr((pkg.relative_to(folder) / "__init__.py").as_posix(), "")


def _forget(names: list[str]) -> None:
    """Drops modules of those names (and their submodules) that this process loaded."""
    for mod in list(sys.modules):
        if any(mod == n or mod.startswith(n + ".") for n in names):
            del sys.modules[mod]


def _install(folder: str, zip_name: str, data: bytes, names: list[str]) -> str:
    """Writes the job's modules into folder and puts them first on sys.path, importing
    nothing (a script among them must not run there)."""
    path = str(Path(folder) / zip_name)
    Path(path).write_bytes(data)
    _forget(names)
    sys.path.insert(0, path)
    importlib.invalidate_caches()
    return path


def _uninstall(folder: str, zip_name: str, names: list[str]) -> None:
    path = str(Path(folder) / zip_name)
    while path in sys.path:
        sys.path.remove(path)
    _forget(names)
    Path(path).unlink(missing_ok=True)


class JobModules(WorkerPlugin):
    """The job's modules on a worker for as long as the job runs: set up on every worker,
    and on a worker that (re)starts meanwhile; taken down when the job unregisters it."""

    def __init__(self, zip_name: str, data: bytes, names: list[str]) -> None:
        self.zip_name = zip_name
        self.data = data
        self.names = names

    def setup(self, worker: Any) -> None:
        _install(worker.local_directory, self.zip_name, self.data, self.names)

    def teardown(self, worker: Any) -> None:
        _uninstall(worker.local_directory, self.zip_name, self.names)


def _install_on_scheduler(zip_name: str, data: bytes, names: list[str], dask_scheduler: Any = None) -> str:
    return _install(dask_scheduler.local_directory, zip_name, data, names)


def _uninstall_on_scheduler(zip_name: str, names: list[str], dask_scheduler: Any = None) -> None:
    _uninstall(dask_scheduler.local_directory, zip_name, names)


def ship_modules(client: Any, folder: Path, script: Path) -> Callable[[], None]:
    """Sends the folder's modules to the scheduler and the workers; returns what takes them back."""
    names, clashing = shippable(module_names(folder, script), installed_names())
    if clashing:
        sys.stderr.write(
            f"[submit] warning: not sent to the scheduler and workers, their names are the cluster's own modules: {', '.join(clashing)}. "
            "Tasks that need them there would get the cluster's; rename them (e.g. my_random.py) to send them.\n"
        )
    if not names:
        return lambda: None
    job = folder.parent.name
    out = folder.parent / f"modules-{job}.zip"
    pack_modules(folder, names, out)
    data = out.read_bytes()
    plugin = f"dask-vm-cluster-job-{job}"
    client.run_on_scheduler(_install_on_scheduler, out.name, data, names)
    client.register_plugin(JobModules(out.name, data, names), name=plugin)
    sys.stderr.write(
        f"[submit] the folder's modules, on the scheduler and every worker for this job: {', '.join(names)}\n"
    )

    def take_back() -> None:
        try:
            client.unregister_worker_plugin(plugin)
            client.run_on_scheduler(_uninstall_on_scheduler, out.name, names)
        except Exception as err:  # the cluster may be gone by now; the job's result stands
            sys.stderr.write(f"[submit] could not take the job's modules back ({err})\n")

    return take_back


def run(script: str, args: list[str], timeout: float) -> int:
    path = Path(script)
    if not path.is_file():
        raise bad_input(f"{script} is not a file in the submitted folder")
    client = connect(timeout)
    folder = path.resolve().parent
    try:
        take_back = ship_modules(client, folder, path)
        # Started from the job's folder, not the script's: `python -m` puts its working
        # folder first on sys.path, where a random.py of the user's would have replaced the
        # standard library's for Dask itself. The script gets its folder now, as `python
        # job.py` run there would.
        os.chdir(folder)
        sys.argv = [path.name, *args]
        sys.path.insert(0, str(folder))
        try:
            runpy.run_path(str(folder / path.name), run_name="__main__")
        except SystemExit as done:
            code = done.code
            if code is None:
                return 0
            if isinstance(code, int):
                return code
            sys.stderr.write(f"{code}\n")
            return 1
        finally:
            take_back()
        return 0
    finally:
        client.close()
