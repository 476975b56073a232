"""svd (seed 2): truncated SVD of a films × users matrix that no single machine holds.

The matrix is generated block by block on the workers (dask.array.map_blocks with a
seed per block), with a planted spectrum: X = U·diag(s)·Vᵀ + noise (i.i.d., mean 0,
standard deviation 1) where U and V have exactly orthonormal columns, so the top-k
singular values are known (s, up to a noise bias below 0.1 %). In the full size X is larger than 3 × the smallest worker memory
limit. da.linalg.svd_compressed(..., compute=True) makes one pass over X per step and
keeps only the thin (rows × (k + oversamples)) intermediates: every block of X is made,
used and dropped, so nothing of X's size is ever held, by the client or by a worker.

This is the dense half of the lesson; real ratings are sparse, and svd_ratings.py
decomposes them without ever making them dense.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import bad_input
from . import cluster, tasks
from .context import Bench, SvdOptions, median
from .events import log

if TYPE_CHECKING:
    import dask.array as da

NAME = "svd"
ASPECT = 2  # users per film in the generated matrix (MovieLens has 2-3x more users than films)
BLOCK_BYTES = 64 * 2**20
SMALL_SHAPE = (1200, 2400)
SIGNAL_OVER_NOISE = 200.0  # s_1 / ‖noise‖₂, where ‖noise‖₂ ≈ sqrt(m) + sqrt(n)
DECAY = 0.8  # s_(i+1) / s_i
# A planted spectrum that decays this fast needs one power iteration: 0.043 % worst error
# in the full size. Real ratings do not decay so (svd_ratings.py chooses its own).
POWER_ITER = 1
OVERSAMPLES = 10


def cases(bench: Bench) -> int:
    return len(bench.node_counts)


def balanced(total: int, wanted: int) -> tuple[int, ...]:
    """Chunks of at most ``wanted`` that differ by at most one."""
    count = max(1, -(-total // max(1, wanted)))
    base, extra = divmod(total, count)
    return tuple(base + 1 if i < extra else base for i in range(count))


def chunk_shape(m: int, n: int, target_entries: int, min_rows: int) -> tuple[int, int]:
    """Block rows and columns with about ``target_entries`` entries, shaped like the
    matrix, at least ``min_rows`` rows (tsqr stacks row blocks of the thin factors)."""
    rows = min(m, max(min_rows, int(math.sqrt(target_entries * m / n))))
    cols = min(n, max(1, target_entries // rows))
    return rows, cols


def planted_shape(min_limit: int, factor: float) -> tuple[int, int]:
    entries = factor * min_limit / 8
    m = math.ceil(math.sqrt(entries / ASPECT))
    return m, ASPECT * m


def planted_values(m: int, n: int, k: int) -> list[float]:
    scale = SIGNAL_OVER_NOISE * (math.sqrt(m) + math.sqrt(n))
    return [scale * DECAY**i for i in range(k)]


def planted_matrix(
    shape: tuple[int, int], chunks: tuple[tuple[int, ...], tuple[int, ...]], seed: int, values: list[float]
) -> da.Array:
    import dask.array as da

    return da.map_blocks(
        tasks.planted_block,
        chunks=chunks,
        dtype=np.float64,
        meta=np.empty((0, 0)),
        seed=seed,
        singular_values=tuple(values),
        noise=1.0,
        name=f"planted-{seed}-{shape[0]}x{shape[1]}",
    )


def settings(opts: SvdOptions, power_iter: int, oversamples: int) -> tuple[int, int, int]:
    """k, power iterations and oversamples: the options where given, else the workload's own."""
    q = opts.power_iter if opts.power_iter is not None else power_iter
    p = opts.oversamples if opts.oversamples is not None else oversamples
    return opts.k, q, p


def residual_check(X: da.Array, last: dict[str, Any]) -> dict[str, Any]:
    """An independent check of the last decomposition, outside every timed block:
    ‖X·vᵢ − sᵢ·uᵢ‖ / sᵢ, one more pass over X (X.dot, not @: matmul has no sparse blocks)."""
    import dask.array as da

    t0 = time.perf_counter()
    u, s, v = last["u"], last["s"], last["v"]
    vt = da.from_array(np.ascontiguousarray(v.T), chunks=(X.chunks[1], (len(s),)))
    xv = X.dot(vt).compute()
    residuals = [float(np.linalg.norm(xv[:, i] - s[i] * u[:, i]) / s[i]) for i in range(len(s))]
    return {
        "nodes": last["nodes"],
        "seconds": time.perf_counter() - t0,
        "relativeResiduals": residuals,
        "maxRelativeResidual": max(residuals),
    }


def run(bench: Bench) -> dict[str, Any]:
    import dask
    import dask.array as da

    opts = bench.svd
    client = bench.client
    k, q, p = settings(opts, POWER_ITER, OVERSAMPLES)
    min_limit = bench.topology.min_memory_limit()
    target_entries = max(1, min(BLOCK_BYTES, min_limit // 16) // 8)
    min_rows = 2 * (k + p)
    m, n = SMALL_SHAPE if bench.size == "small" else planted_shape(min_limit, opts.memory_factor)
    if bench.size == "small":
        br, bc = 400, 600
    else:
        br, bc = chunk_shape(m, n, target_entries, min_rows)
    row_chunks, col_chunks = balanced(m, br), balanced(n, bc)
    m, n = sum(row_chunks), sum(col_chunks)
    planted = planted_values(m, n, k)
    X = planted_matrix((m, n), (row_chunks, col_chunks), bench.seed, planted)
    source = "planted"
    # A planted block's slabs of U and V need at least k rows each (exact orthonormality).
    if min(X.chunks[0]) < k or min(X.chunks[1]) < k:
        raise bad_input(
            f"the matrix is too small for --svd-k {k}: its blocks ({X.chunks[0][0]} × {X.chunks[1][0]}, shape {m} × {n}) need at least {k} rows and columns"
        )
    matrix_bytes = m * n * 8
    log.info(
        "svd: %s matrix %d × %d (%.2f GiB, %.2f × the smallest worker memory limit), blocks %s × %s",
        source,
        m,
        n,
        matrix_bytes / 2**30,
        matrix_bytes / min_limit,
        X.chunks[0][0],
        X.chunks[1][0],
    )

    out_cases = []
    last: dict[str, Any] = {}
    for nodes in bench.node_counts:
        label = f"{nodes} node(s)"
        bench.before_case(NAME, label)
        topology = bench.topology
        addresses = topology.addresses(nodes)
        before = cluster.memory_reports(client, addresses)
        runs = []
        for rep in range(bench.repeats):
            bench.events.progress(NAME, f"{label}: svd_compressed of {m}×{n}, k={k}, repeat {rep + 1}/{bench.repeats}")
            t0 = time.perf_counter()
            # Global annotations apply to every graph submitted inside, including the
            # persist() calls svd_compressed makes itself: all of it stays on these workers.
            with dask.annotate(workers=addresses, allow_other_workers=False):
                u_, s_, v_ = da.linalg.svd_compressed(
                    X, k, n_power_iter=q, n_oversamples=p, seed=bench.seed, compute=True
                )
                u, s, v = dask.compute(u_, s_, v_)
            seconds = time.perf_counter() - t0
            del u_, s_, v_
            errors = [abs(float(a) - b) / b for a, b in zip(s, planted, strict=True)]
            runs.append({"seconds": seconds, "maxRelativeError": max(errors)})
            last = {"u": u, "s": s, "v": v, "nodes": nodes}
            bench.settle()
        after = cluster.memory_reports(client, addresses)
        errors = [abs(float(a) - b) / b for a, b in zip(last["s"], planted, strict=True)]
        case = {
            "nodes": nodes,
            "nodeNames": topology.node_names(nodes),
            "workers": addresses,
            "slots": topology.slots(nodes),
            "seconds": median([r["seconds"] for r in runs]),
            "minSeconds": min(r["seconds"] for r in runs),
            "singularValues": [float(x) for x in last["s"]],
            "relativeErrors": errors,
            "maxRelativeError": max(errors),
            "workerMemory": cluster.memory_rows(topology, addresses, before, after),
            "runs": runs,
        }
        out_cases.append(case)
        bench.events.case(NAME, label, {key: case[key] for key in ("nodes", "seconds", "maxRelativeError")})

    bench.events.progress(NAME, "checking the last decomposition: residuals ‖X·v − s·u‖ / s")
    check = residual_check(X, last)
    chunks = [X.chunks[0][0], X.chunks[1][0]]
    blocks = len(X.chunks[0]) * len(X.chunks[1])
    del X
    bench.keep = []
    bench.settle()

    return {
        "source": source,
        "shape": [m, n],
        "chunks": chunks,
        "blocks": blocks,
        "matrixBytes": matrix_bytes,
        "minWorkerMemoryLimitBytes": min_limit,
        "memoryRatio": matrix_bytes / min_limit,
        "k": k,
        "nPowerIter": q,
        "nOversamples": p,
        "passesOverMatrix": 2 * q + 2,
        "seed": bench.seed,
        "noise": 1.0,
        "plantedSingularValues": planted,
        "cases": out_cases,
        "check": check,
    }
