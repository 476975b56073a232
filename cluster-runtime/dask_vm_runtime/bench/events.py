"""Progress as JSON lines on stdout, for the TypeScript runner; logs go to stderr.

The real stdout is kept for events only: claim_stdout() duplicates it, then points file
descriptor 1 and sys.stdout at stderr, so that a print() in a library (or in a process
that inherits our descriptors, such as LocalCluster workers) cannot break the stream.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, Literal, TextIO

EventName = Literal["start", "progress", "case", "done", "error"]

log = logging.getLogger("dask_vm_runtime.bench")


class Events:
    """Every progress and case event carries the run's position (casesDone/totalCases)
    and the workload's own (done/total, with the current step), which is what a
    per-workload progress bar needs."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}

    @property
    def total_cases(self) -> int:
        return sum(self.totals.values())

    @property
    def cases_done(self) -> int:
        return sum(self.done.values())

    def emit(self, event: EventName, **fields: Any) -> None:
        record = {"event": event, "time": round(time.time(), 3), **fields}
        self._stream.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
        self._stream.flush()

    def _position(self, workload: str) -> dict[str, int]:
        return {
            "done": self.done.get(workload, 0),
            "total": self.totals.get(workload, 0),
            "casesDone": self.cases_done,
            "totalCases": self.total_cases,
        }

    def progress(self, workload: str, message: str) -> None:
        log.info("%s: %s", workload, message)
        self.emit("progress", workload=workload, step=message, **self._position(workload))

    def case(self, workload: str, label: str, summary: dict[str, Any]) -> None:
        self.done[workload] = self.done.get(workload, 0) + 1
        log.info("%s: %s done: %s", workload, label, json.dumps(summary))
        self.emit("case", workload=workload, step=label, **self._position(workload), summary=summary)


_claimed: Events | None = None


def claim_stdout() -> Events:
    global _claimed
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _claimed = Events(os.fdopen(fd, "w", buffering=1, encoding="utf-8"))
    return _claimed


def claimed() -> Events | None:
    """The event stream claim_stdout() made, for code that ends the run outside main()."""
    return _claimed


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s bench %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
