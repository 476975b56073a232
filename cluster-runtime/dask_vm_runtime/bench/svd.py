"""svd (seed 2): truncated SVD of a films × users matrix that no single machine holds.

The matrix is generated block by block on the workers (dask.array.map_blocks with a
seed per block), with a planted spectrum: X = U·diag(s)·Vᵀ + noise (i.i.d., mean 0,
standard deviation 1) where U and V have exactly orthonormal columns, so the top-k
singular values are known (s, up to a noise bias below 0.1 %). In the full size X is larger than 3 × the smallest worker memory
limit. da.linalg.svd_compressed(..., compute=True) makes one pass over X per step and
keeps only the thin (rows × (k + oversamples)) intermediates: every block of X is made,
used and dropped, so nothing of X's size is ever held, by the client or by a worker.

--svd-matrix reads a MovieLens ratings CSV (userId,movieId,rating,...) instead: the
client parses it into (row, col, value) triplets grouped by block, scatters them, and
the workers densify one block at a time. No scipy: blocks are dense only while used.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import bad_input
from . import cluster, tasks
from .context import Bench, median
from .events import log

if TYPE_CHECKING:
    import dask.array as da
    from distributed import Client

NAME = "svd"
ASPECT = 2  # users per film in the generated matrix (MovieLens has 2-3x more users than films)
BLOCK_BYTES = 64 * 2**20
SMALL_SHAPE = (1200, 2400)
SIGNAL_OVER_NOISE = 200.0  # s_1 / ‖noise‖₂, where ‖noise‖₂ ≈ sqrt(m) + sqrt(n)
DECAY = 0.8  # s_(i+1) / s_i


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


def load_ratings(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(film, user, rating) columns of a MovieLens ratings CSV: a header naming userId,
    movieId and rating (any order, more columns allowed), or no header and that order."""
    films: list[int] = []
    users: list[int] = []
    ratings: list[float] = []
    try:
        f = path.open(newline="", encoding="utf-8")
    except OSError as err:
        raise bad_input(f"--svd-matrix {path}: cannot read it ({err.strerror}); pass a MovieLens ratings.csv") from None
    with f:
        reader = csv.reader(f)
        first = next(reader, None)
        if first is None:
            raise bad_input(f"--svd-matrix {path} is empty; expected lines userId,movieId,rating[,timestamp]")
        header = [c.strip() for c in first]
        if {"userId", "movieId", "rating"} <= set(header):
            iu, im, ir = header.index("userId"), header.index("movieId"), header.index("rating")
            rows = reader
        else:
            iu, im, ir = 0, 1, 2
            rows = _chain([first], reader)
        for line_no, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                users.append(int(row[iu]))
                films.append(int(row[im]))
                ratings.append(float(row[ir]))
            except (ValueError, IndexError):
                raise bad_input(
                    f"--svd-matrix {path} line {line_no}: {','.join(row)!r} is not userId,movieId,rating"
                ) from None
    if not ratings:
        raise bad_input(f"--svd-matrix {path} holds no ratings")
    return np.asarray(films), np.asarray(users), np.asarray(ratings, dtype=np.float64)


def _chain(*iterables: Any) -> Any:
    for it in iterables:
        yield from it


def ratings_matrix(
    client: Client, path: Path, target_entries: int, min_rows: int
) -> tuple[da.Array, dict[str, Any], list[Any]]:
    """The films × users matrix of a ratings file as a dask array of dense blocks made on
    the workers from scattered triplets. Returns the array, a description and the
    scattered futures (kept alive for as long as the array is used)."""
    import dask
    import dask.array as da

    films, users, ratings = load_ratings(path)
    film_ids, rows = np.unique(films, return_inverse=True)
    user_ids, cols = np.unique(users, return_inverse=True)
    m, n = len(film_ids), len(user_ids)
    br, bc = chunk_shape(m, n, target_entries, min_rows)
    row_chunks, col_chunks = balanced(m, br), balanced(n, bc)
    row_starts = np.cumsum((0, *row_chunks))
    col_starts = np.cumsum((0, *col_chunks))
    bi = np.searchsorted(row_starts, rows, side="right") - 1
    bj = np.searchsorted(col_starts, cols, side="right") - 1
    block_id = bi * len(col_chunks) + bj
    order = np.argsort(block_id, kind="stable")
    bounds = np.searchsorted(block_id[order], np.arange(len(row_chunks) * len(col_chunks) + 1))
    triplets = []
    for b in range(len(row_chunks) * len(col_chunks)):
        sel = order[bounds[b] : bounds[b + 1]]
        i, j = divmod(b, len(col_chunks))
        triplets.append(
            ((rows[sel] - row_starts[i]).astype(np.int32), (cols[sel] - col_starts[j]).astype(np.int32), ratings[sel])
        )
    futures = client.scatter(triplets, hash=False)
    grid = []
    for i, rc in enumerate(row_chunks):
        line = []
        for j, cc in enumerate(col_chunks):
            block = dask.delayed(tasks.dense_block, pure=True)(futures[i * len(col_chunks) + j], (rc, cc))
            line.append(da.from_delayed(block, (rc, cc), dtype=np.float64, meta=np.empty((0, 0))))
        grid.append(line)
    about = {"path": str(path), "ratings": len(ratings), "films": m, "users": n, "density": len(ratings) / (m * n)}
    return da.block(grid), about, futures


def run(bench: Bench) -> dict[str, Any]:
    import dask
    import dask.array as da

    opts = bench.svd
    client = bench.client
    k, q, p = opts.k, opts.power_iter, opts.oversamples
    min_limit = bench.topology.min_memory_limit()
    target_entries = max(1, min(BLOCK_BYTES, min_limit // 16) // 8)
    min_rows = 2 * (k + p)
    scattered: list[Any] = []
    if opts.matrix is not None:
        bench.events.progress(NAME, f"reading ratings from {opts.matrix}")
        X, about, scattered = ratings_matrix(client, opts.matrix, target_entries, min_rows)
        bench.keep = [f.key for f in scattered]
        m, n = X.shape
        planted = None
        source = "ratings-file"
    else:
        m, n = SMALL_SHAPE if bench.size == "small" else planted_shape(min_limit, opts.memory_factor)
        if bench.size == "small":
            br, bc = 400, 600
        else:
            br, bc = chunk_shape(m, n, target_entries, min_rows)
        row_chunks, col_chunks = balanced(m, br), balanced(n, bc)
        m, n = sum(row_chunks), sum(col_chunks)
        planted = planted_values(m, n, k)
        X = planted_matrix((m, n), (row_chunks, col_chunks), bench.seed, planted)
        about = None
        source = "planted"
    # A planted block's slabs of U and V need at least k rows each (exact orthonormality).
    if min(X.chunks[0]) < k or (planted and min(X.chunks[1]) < k):
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
            errors = [abs(float(a) - b) / b for a, b in zip(s, planted, strict=True)] if planted else None
            runs.append({"seconds": seconds, "maxRelativeError": max(errors) if errors else None})
            last = {"u": u, "s": s, "v": v, "nodes": nodes}
            bench.settle()
        after = cluster.memory_reports(client, addresses)
        errors = [abs(float(a) - b) / b for a, b in zip(last["s"], planted, strict=True)] if planted else None
        case = {
            "nodes": nodes,
            "nodeNames": topology.node_names(nodes),
            "workers": addresses,
            "slots": topology.slots(nodes),
            "seconds": median([r["seconds"] for r in runs]),
            "minSeconds": min(r["seconds"] for r in runs),
            "singularValues": [float(x) for x in last["s"]],
            "relativeErrors": errors,
            "maxRelativeError": max(errors) if errors else None,
            "workerMemory": [
                {
                    "address": a,
                    "node": topology.node_by_address[a],
                    "maxRssBytes": after[a]["maxRssBytes"],
                    "spilledBytes": after[a]["spilledBytes"] - before[a]["spilledBytes"],
                }
                for a in addresses
            ],
            "runs": runs,
        }
        out_cases.append(case)
        bench.events.case(NAME, label, {key: case[key] for key in ("nodes", "seconds", "maxRelativeError")})

    # An independent check of the last decomposition, outside every timed block:
    # ‖X·vᵢ − sᵢ·uᵢ‖ / sᵢ, one more pass over X.
    bench.events.progress(NAME, "checking the last decomposition: residuals ‖X·v − s·u‖ / s")
    t0 = time.perf_counter()
    vt = da.from_array(np.ascontiguousarray(last["v"].T), chunks=(X.chunks[1], (k,)))
    xv = (X @ vt).compute()
    residuals = [float(np.linalg.norm(xv[:, i] - last["s"][i] * last["u"][:, i]) / last["s"][i]) for i in range(k)]
    check = {
        "nodes": last["nodes"],
        "seconds": time.perf_counter() - t0,
        "relativeResiduals": residuals,
        "maxRelativeResidual": max(residuals),
    }
    chunks = [X.chunks[0][0], X.chunks[1][0]]
    blocks = len(X.chunks[0]) * len(X.chunks[1])
    del X, vt, scattered
    bench.keep = []
    bench.settle()

    return {
        "source": source,
        "file": about,
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
        "noise": 1.0 if planted else None,
        "plantedSingularValues": planted,
        "cases": out_cases,
        "check": check,
    }
