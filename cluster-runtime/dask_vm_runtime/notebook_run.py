"""``python -m dask_vm_runtime run-notebook IN OUT``: a notebook run top to bottom with
nbclient, as ``npm run notebook -- --execute`` does on node 1, in the kernel JupyterLab
uses (the runtime's Python, the cluster's connection profile). One line per cell as it
finishes; the executed notebook, outputs included, is written to OUT even when a cell
fails, and then the exit code is 1 with the cell and its error named.

nbclient and nbformat come from the notebook's packages (PYTHONPATH), not from the
runtime venv: the command is run with the notebook's environment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from .errors import RuntimeCliError, bad_input


def _first_line(cell: Any) -> str:
    for line in str(cell.get("source", "")).splitlines():
        if line.strip():
            return line.strip()[:70]
    return "(empty)"


def run(source: str, out: str, kernel: str, timeout: float) -> int:
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as err:
        raise RuntimeCliError(
            f"nbclient is not importable ({err}): run this with the notebook's environment (npm run notebook -- --execute)"
        ) from None
    path = Path(source)
    if not path.is_file():
        raise bad_input(f"{source} is not a file")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:
        raise bad_input(f"{source} is not a notebook: {err}") from None
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    started: dict[int, float] = {}

    def on_start(cell: Any, cell_index: int) -> None:
        started[cell_index] = time.perf_counter()

    def on_done(cell: Any, cell_index: int, execute_reply: Any) -> None:
        n = code_cells.index(cell_index) + 1 if cell_index in code_cells else 0
        status = execute_reply.get("content", {}).get("status", "?")
        seconds = time.perf_counter() - started.get(cell_index, time.perf_counter())
        print(f"[cell {n}/{len(code_cells)}] {status} in {seconds:.1f} s: {_first_line(cell)}", flush=True)

    client = NotebookClient(
        nb,
        kernel_name=kernel,
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_execute=on_start,
        on_cell_executed=on_done,
    )
    t0 = time.perf_counter()
    failed: str | None = None
    try:
        client.execute()
    except CellExecutionError as err:
        failed = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    finally:
        nbformat.write(nb, out)
    if failed:
        bad = next(
            (
                i
                for i, c in enumerate(nb.cells)
                if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.get("outputs", []))
            ),
            None,
        )
        if bad is None:
            sys.stderr.write(f"a cell failed: {failed}\n")
            return 1
        error = next(o for o in nb.cells[bad].outputs if o.get("output_type") == "error")
        first = (str(error.get("evalue", "")).splitlines() or [""])[0]
        sys.stderr.write(
            f"cell {code_cells.index(bad) + 1} ({_first_line(nb.cells[bad])}) failed: {error.get('ename')}: {first}\n"
        )
        return 1
    print(f"all {len(code_cells)} code cells ran in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0
