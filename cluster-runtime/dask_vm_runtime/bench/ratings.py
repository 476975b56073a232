"""Ratings as a films × users sparse matrix, in row blocks of SciPy ``csr_matrix`` (the
sparse type dask.array's dot and svd_compressed accept; they fail on ``csr_array``).

Two sources, one block type:

- a MovieLens ratings file (``userId,movieId,rating[,timestamp]``, any column order, as
  MovieLens' README describes it), cut into byte ranges that the workers parse in
  parallel, each from its own node's copy or from bytes the client sent; every line is
  checked, and a bad one is reported with its line and column (exit 2);
- a generated set with a MovieLens release's shape (films, users, ratings), made on the
  workers block by block from a seed. Its values are ratings-like: half stars from 0.5 to
  5, a mean near 3.5, film and user biases, a dozen taste factors and noise, on films and
  users whose popularity is as skewed as MovieLens'. That gives the spectrum of real
  ratings: one large singular value (the mean), then a slow decay into a flat tail, the
  case where one power iteration of a randomized SVD is far off.

Everything here runs on workers or in a plain process: only numpy and scipy, no dask.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "userId,movieId,rating[,timestamp] (a header naming them, in any column order; or no header and that order)"
COLUMNS = ("userId", "movieId", "rating")


@dataclass(frozen=True)
class Shape:
    name: str
    films: int
    users: int
    ratings: int
    blocks: int  # row blocks of the generated matrix, fixed so every reader builds the same one

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "films": self.films, "users": self.users, "ratings": self.ratings}


# MovieLens' own counts (the README of each release): ml-latest-small has 100,836 ratings
# of 9,724 films by 610 users; ml-10m (ml-10M100K) 10,000,054 ratings of 10,681 films by
# 71,567 users; ml-32m 32,000,204 ratings of 87,585 films by 200,948 users.
SHAPES = {
    "ml-latest-small": Shape("ml-latest-small", 9_724, 610, 100_836, 8),
    "ml-10m": Shape("ml-10m", 10_681, 71_567, 10_000_054, 16),
    "ml-32m": Shape("ml-32m", 87_585, 200_948, 32_000_204, 48),
}

# The generator's model of a rating (see the module docstring).
MEAN, FILM_BIAS, USER_BIAS, NOISE = 3.5, 0.45, 0.35, 0.7
FACTORS = 12
FACTOR_WEIGHTS = tuple(0.55 / math.sqrt(k + 1) for k in range(FACTORS))


class RatingsError(ValueError):
    """A ratings file that is not one: what is wrong (``detail``), at ``line`` (1-based in
    the text parsed; a range of a file shifts it with ``at_line``) and ``column`` (1-based,
    ``name`` its header name)."""

    def __init__(self, detail: str, line: int | None = None, column: int | None = None, name: str = "") -> None:
        self.detail, self.line, self.column, self.name = detail, line, column, name
        super().__init__(self.message())

    def message(self) -> str:
        where = ""
        if self.line is not None:
            where = f"line {self.line}"
            if self.column is not None:
                where += f", column {self.column}" + (f" ({self.name})" if self.name else "")
            where += ": "
        return f"{where}{self.detail}; a ratings file holds {FORMAT}"

    def at_line(self, offset: int) -> RatingsError:
        return RatingsError(self.detail, None if self.line is None else self.line + offset, self.column, self.name)

    def as_json(self) -> dict[str, Any]:
        return {"detail": self.detail, "line": self.line, "column": self.column, "name": self.name}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RatingsError:
        return cls(data["detail"], data["line"], data["column"], data["name"])


# --- the generated sets -------------------------------------------------------------------


def balanced(total: int, count: int) -> tuple[int, ...]:
    """``count`` chunks of ``total`` that differ by at most one."""
    count = max(1, min(count, total))
    base, extra = divmod(total, count)
    return tuple(base + 1 if i < extra else base for i in range(count))


@functools.lru_cache(maxsize=4)
def _population(shape: Shape, seed: int) -> dict[str, np.ndarray]:
    """Every film's and user's parameters, the same in every process for one (shape, seed):
    a few MB, made again by each task rather than sent."""
    rng = np.random.default_rng([seed, 0])
    # Film popularity is Zipf-like (a few films get most ratings), in a shuffled order so
    # that row blocks of consecutive films hold about as many ratings each.
    rank = rng.permutation(shape.films)
    film_weight = (rank + 50.0) ** -1.0
    # User activity is log-normal (most users rate a few dozen films, some thousands).
    user_weight = rng.lognormal(0.0, 1.1, shape.users)
    return {
        "film_p": film_weight / film_weight.sum(),
        "user_cdf": np.cumsum(user_weight / user_weight.sum()),
        "film_bias": rng.normal(0.0, FILM_BIAS, shape.films),
        "user_bias": rng.normal(0.0, USER_BIAS, shape.users),
        # Factor-major (FACTORS × items): one factor's column is contiguous.
        "film_f": rng.standard_normal((FACTORS, shape.films)),
        "user_f": rng.standard_normal((FACTORS, shape.users)),
    }


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """np.unique by sorting: numpy 2.3+'s np.unique hashes first, 8 × slower on these keys."""
    keys.sort()
    if len(keys) < 2:
        return keys
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))]


def row_chunks(shape: Shape) -> tuple[int, ...]:
    return balanced(shape.films, shape.blocks)


def generated_block(shape_name: str, seed: int, block: int) -> Any:
    """Row block ``block`` of the generated set: a csr_matrix of (its films) × users."""
    from scipy.sparse import csr_matrix

    shape = SHAPES[shape_name]
    pop = _population(shape, seed)
    chunks = row_chunks(shape)
    r0 = sum(chunks[:block])
    rows = chunks[block]
    film_p = pop["film_p"][r0 : r0 + rows]
    share = float(film_p.sum())
    want = round(shape.ratings * share)
    rng = np.random.default_rng([seed, 1, block])
    film_cdf = np.cumsum(film_p / share)
    keys = np.empty(0, dtype=np.int64)
    # A pair drawn twice is one rating: draw again for what duplicates took, a few times.
    for _ in range(4):
        missing = want - len(keys)
        if missing <= 0:
            break
        f = np.minimum(np.searchsorted(film_cdf, rng.random(missing)), rows - 1)
        u = np.minimum(np.searchsorted(pop["user_cdf"], rng.random(missing)), shape.users - 1)
        keys = _sorted_unique(np.concatenate([keys, f.astype(np.int64) * shape.users + u]))
    keys = keys[:want] if len(keys) > want else keys
    f, u = np.divmod(keys, shape.users)
    gf = f + r0
    value = MEAN + pop["film_bias"][gf] + pop["user_bias"][u] + rng.normal(0.0, NOISE, len(keys))
    for k, w in enumerate(FACTOR_WEIGHTS):
        value += w * pop["film_f"][k][gf] * pop["user_f"][k][u]
    value = np.clip(np.round(value * 2.0) / 2.0, 0.5, 5.0)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(f, minlength=rows), out=indptr[1:])
    return csr_matrix((value, u.astype(np.int32), indptr), shape=(rows, shape.users))


def generated_matrix(shape_name: str, seed: int) -> Any:
    """The whole generated set in one csr_matrix (the single-machine peer's matrix)."""
    from scipy.sparse import vstack

    shape = SHAPES[shape_name]
    return vstack([generated_block(shape_name, seed, b) for b in range(shape.blocks)], format="csr")


def write_csv(shape_name: str, seed: int, path: Path) -> dict[str, Any]:
    """The generated set as a MovieLens ratings.csv: its header, rows sorted by userId then
    movieId, movieIds as sparse as MovieLens' (ids up to about 20 × the films), timestamps
    in seconds since 1970. For tests and for trying the benchmark without a download."""
    shape = SHAPES[shape_name]
    matrix = generated_matrix(shape_name, seed).tocoo()
    rng = np.random.default_rng([seed, 2])
    movie_ids = np.sort(rng.choice(20 * shape.films, shape.films, replace=False)) + 1
    order = np.lexsort((matrix.row, matrix.col))
    users = matrix.col[order] + 1
    movies = movie_ids[matrix.row[order]]
    values = matrix.data[order]
    stamps = rng.integers(828_000_000, 1_700_000_000, len(values))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        out.write("userId,movieId,rating,timestamp\n")
        step = 1 << 18
        for s in range(0, len(values), step):
            e = s + step
            out.writelines(
                f"{a},{b},{c:g},{d}\n"
                for a, b, c, d in zip(users[s:e], movies[s:e], values[s:e], stamps[s:e], strict=True)
            )
    os.replace(tmp, path)
    return {
        "path": str(path),
        "shape": shape.name,
        "films": shape.films,
        "users": shape.users,
        "ratings": len(values),
    }


# --- ratings files ------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where the three columns are, and how many fields a line has."""

    user: int
    movie: int
    rating: int
    fields: int
    header: bool
    names: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"header": self.header, "columns": list(self.names)}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def layout_of(first_line: str) -> Layout:
    """The columns, from the first line: a header naming userId, movieId and rating (any
    order, any other columns beside them, names in any letter case), or a first rating."""
    fields = [f.strip() for f in next(csv.reader([first_line.lstrip("\ufeff")]), [])]
    if not fields or fields == [""]:
        raise RatingsError("the first line is empty", line=1)
    if all(_is_number(f) for f in fields):
        if len(fields) < 3:
            raise RatingsError(f"{len(fields)} column(s) and no header", line=1)
        names = tuple(
            ["userId", "movieId", "rating", "timestamp", *[f"column{i + 1}" for i in range(4, len(fields))]][
                : len(fields)
            ]
        )
        return Layout(0, 1, 2, len(fields), False, names)
    lower = [f.lower() for f in fields]
    known = {"userid", "movieid", "rating", "timestamp"}
    if not known & set(lower) and any(_is_number(f) for f in fields) and len(fields) >= 3:
        # A first rating with a typo rather than a header: say which field is wrong.
        _check_line(
            first_line.lstrip("\ufeff"), 1, Layout(0, 1, 2, len(fields), False, ("userId", "movieId", "rating"))
        )
    missing = [c for c in COLUMNS if c.lower() not in lower]
    if missing:
        raise RatingsError(f"the header {','.join(fields)!r} names no {', '.join(missing)} column", line=1)
    twice = [c for c in COLUMNS if lower.count(c.lower()) > 1]
    if twice:
        raise RatingsError(f"the header names {', '.join(twice)} twice", line=1)
    return Layout(
        lower.index("userid"), lower.index("movieid"), lower.index("rating"), len(fields), True, tuple(fields)
    )


def _check_line(text: str, line: int, layout: Layout) -> tuple[int, int, float]:
    """One line checked field by field; the error names the line and the column."""
    fields = next(csv.reader([text]), [])
    needed = max(layout.user, layout.movie, layout.rating) + 1
    if len(fields) < needed:
        raise RatingsError(
            f"{len(fields)} column(s), too few for {', '.join(COLUMNS)} (columns {layout.user + 1},"
            f" {layout.movie + 1}, {layout.rating + 1}): {text.strip()[:80]!r}",
            line,
        )
    out: list[float] = []
    for index, kind in ((layout.user, "id"), (layout.movie, "id"), (layout.rating, "rating")):
        name = layout.names[index]
        raw = fields[index].strip()
        try:
            value = float(raw)
        except ValueError:
            raise RatingsError(f"{raw!r} is not a number", line, index + 1, name) from None
        if not math.isfinite(value):
            raise RatingsError(f"{raw!r} is not a finite number", line, index + 1, name)
        if kind == "id" and (value < 0 or value != int(value)):
            raise RatingsError(f"{raw!r} is not an id (a whole number, 0 or more)", line, index + 1, name)
        out.append(value)
    return int(out[0]), int(out[1]), out[2]


def _lines_with_numbers(text: str, first_line: int) -> Iterator[tuple[int, str]]:
    for i, line in enumerate(text.split("\n")):
        yield first_line + i, line.rstrip("\r")


def parse_text(text: str, layout: Layout, first_line: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, movies, ratings) of whole lines of a ratings file, the first of them line
    ``first_line`` of the file; blank lines are skipped. numpy parses; a line it refuses,
    or a value out of range, is found again line by line to report it exactly."""
    body = text.rstrip("\r\n")  # the front stays: line numbers count from it
    if not body.strip():
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
    try:
        table = np.loadtxt(
            io.StringIO(body),
            delimiter=",",
            usecols=(layout.user, layout.movie, layout.rating),
            dtype=np.float64,
            ndmin=2,
            comments=None,
        )
        ids = table[:, :2]
        if not np.isfinite(table).all() or (ids < 0).any() or (ids != np.floor(ids)).any():
            raise ValueError("out of range")
    except ValueError:
        for line, raw in _lines_with_numbers(body, first_line):
            if raw.strip():  # blank lines are skipped, as numpy and pandas do
                _check_line(raw, line, layout)
        raise RatingsError(f"numpy refused lines {first_line}… and no single line explains why") from None
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2].copy()


def read_lines(source: str | Path, start: int, end: int) -> bytes:
    """The whole lines of a file whose first byte is in [start, end): ranges that tile a
    file give every line once, wherever they cut it."""
    with open(source, "rb") as f:
        if start > 0:
            f.seek(start - 1)
            f.readline()  # the rest of the line holding byte start-1 belongs to the range before
        pos = f.tell()
        if pos >= end:
            return b""
        data = f.read(end - pos)
        if data and not data.endswith(b"\n"):
            data += f.readline()
    return data


def file_facts(source: str | Path) -> dict[str, Any]:
    """Size and first line of a ratings file (on the node that runs this)."""
    path = Path(source)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            first = f.readline()
    except OSError as err:
        return {"error": err.strerror or str(err)}
    return {"size": size, "firstLine": first.decode("utf-8", errors="replace"), "firstLineBytes": len(first)}


def parse_range(data: bytes | tuple[str, int, int], layout: Layout) -> dict[str, Any]:
    """A range of a ratings file parsed: the lines' (users, movies, ratings), their count,
    the distinct ids, or the first bad line (its number counted from the range's first
    line: the client knows how many lines come before). ``data`` is the range's bytes, or
    (path, start, end) of this node's copy."""
    if isinstance(data, tuple):
        data = read_lines(*data)
    lines = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
    out: dict[str, Any] = {"lines": lines, "error": None}
    try:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            line_start = data.rfind(b"\n", 0, err.start) + 1
            line = data[:line_start].count(b"\n") + 1
            raise RatingsError(f"byte {err.start - line_start + 1} of the line is not UTF-8 text", line) from None
        users, movies, values = parse_text(text.lstrip("\ufeff"), layout, 1)
    except RatingsError as err:
        out["error"] = err.as_json()
        return out
    out.update(users=users, movies=movies, ratings=values)
    return out


def range_ids(parsed: dict[str, Any]) -> dict[str, Any]:
    """What the client gathers from a parsed range: small facts, never the ratings."""
    if parsed["error"] is not None:
        return {"lines": parsed["lines"], "error": parsed["error"]}
    return {
        "lines": parsed["lines"],
        "error": None,
        "users": np.unique(parsed["users"]),
        "movies": np.unique(parsed["movies"]),
        "ratings": len(parsed["ratings"]),
    }


def split_range(
    parsed: dict[str, Any], movie_ids: np.ndarray, user_ids: np.ndarray, row_starts: np.ndarray
) -> list[Any]:
    """A parsed range's ratings as (row in block, user column, rating) per row block."""
    rows = np.searchsorted(movie_ids, parsed["movies"])
    cols = np.searchsorted(user_ids, parsed["users"]).astype(np.int32)
    block = np.searchsorted(row_starts, rows, side="right") - 1
    order = np.argsort(block, kind="stable")
    bounds = np.searchsorted(block[order], np.arange(len(row_starts)))
    pieces = []
    for b in range(len(row_starts) - 1):
        sel = order[bounds[b] : bounds[b + 1]]
        pieces.append(((rows[sel] - row_starts[b]).astype(np.int32), cols[sel], parsed["ratings"][sel]))
    return pieces


def assemble_block(block: int, shape: tuple[int, int], *splits: list[Any]) -> Any:
    """Row unit ``block`` of a file: its pieces from every range, as one csr_matrix."""
    from scipy.sparse import coo_matrix

    rows = np.concatenate([s[block][0] for s in splits])
    cols = np.concatenate([s[block][1] for s in splits])
    vals = np.concatenate([s[block][2] for s in splits])
    return coo_matrix((vals, (rows, cols)), shape=shape).tocsr()


# The cluster's blocks hold float32: half stars are exact in it, the block is 8 bytes a
# rating instead of 12, and svd_compressed then works in float32 too (its thin factors
# half the size). Within a worker's memory limit that is the difference between a matrix
# that stays in memory and one spilled to disk and read back on every pass.
CLUSTER_DTYPE = np.float32


def _stacked(units: list[Any]) -> Any:
    from scipy.sparse import vstack

    block = units[0] if len(units) == 1 else vstack(units, format="csr")
    return block.astype(CLUSTER_DTYPE)


def file_rows(first: int, shapes: list[tuple[int, int]], *splits: list[Any]) -> Any:
    """Row units first, first + 1, ... of a file, stacked into one block."""
    return _stacked([assemble_block(first + i, shape, *splits) for i, shape in enumerate(shapes)])


def generated_rows(shape_name: str, seed: int, first: int, count: int) -> Any:
    """Row units first … first + count - 1 of a generated set, stacked into one block: the
    same matrix whatever the grouping."""
    return _stacked([generated_block(shape_name, seed, first + i) for i in range(count)])


def nnz(block: Any) -> int:
    return int(block.nnz)


def data_path(rel: str) -> str:
    """A file of your data on this node (what npm run data -- push copied)."""
    from .. import data_dir

    return str(data_dir() / rel)


def data_facts(rel: str) -> dict[str, Any]:
    return file_facts(data_path(rel))


def data_range(rel: str, start: int, end: int) -> bytes:
    return read_lines(data_path(rel), start, end)


# --- one machine: the peer a student would use instead, and the reference -----------------


def file_matrix(path: Path) -> tuple[Any, dict[str, Any]]:
    """A ratings file read whole on this machine into one films × users csr_matrix."""
    from scipy.sparse import coo_matrix

    data = path.read_bytes()
    first_end = data.find(b"\n") + 1 or len(data)
    layout = layout_of(data[:first_end].decode("utf-8", errors="replace"))
    body = data[first_end:] if layout.header else data
    parsed = parse_range(body, layout)
    if parsed["error"] is not None:
        raise RatingsError.from_json(parsed["error"]).at_line(1 if layout.header else 0)
    movie_ids, rows = np.unique(parsed["movies"], return_inverse=True)
    user_ids, cols = np.unique(parsed["users"], return_inverse=True)
    matrix = coo_matrix((parsed["ratings"], (rows, cols)), shape=(len(movie_ids), len(user_ids))).tocsr()
    return matrix, {"films": len(movie_ids), "users": len(user_ids), "ratings": int(matrix.nnz)}


def peer(source: dict[str, Any], k: int, seed: int, exact: bool) -> dict[str, Any]:
    """SciPy's svds (ARPACK) on the whole matrix in one process: the single-machine tool,
    and with tol=0 (machine precision) the reference for a matrix too big to densify;
    with ``exact``, also the exact SVD of the dense matrix (numpy's LAPACK)."""
    import resource
    import time

    from scipy.sparse.linalg import svds

    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    t0 = time.perf_counter()
    if source["kind"] == "generated":
        matrix = generated_matrix(source["shape"], seed)
    else:
        matrix, _ = file_matrix(Path(source["path"]))
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    values = svds(matrix, k=k, tol=0, solver="arpack", return_singular_vectors=False, random_state=seed)
    out: dict[str, Any] = {
        "tool": f"scipy.sparse.linalg.svds(solver='arpack', tol=0), SciPy {_scipy_version()}",
        "shape": list(matrix.shape),
        "ratings": int(matrix.nnz),
        "loadSeconds": load,
        "seconds": time.perf_counter() - t0,
        "peakRssBytes": peak(),
        "singularValues": sorted((float(v) for v in values), reverse=True),
        "exact": None,
    }
    if exact:
        t0 = time.perf_counter()
        dense = matrix.toarray()
        full = np.linalg.svd(dense, compute_uv=False)
        out["exact"] = {
            "tool": f"numpy.linalg.svd of the dense matrix, NumPy {np.__version__}",
            "seconds": time.perf_counter() - t0,
            "denseBytes": int(dense.nbytes),
            "peakRssBytes": peak(),
            "singularValues": [float(v) for v in full[:k]],
        }
    return out


def sweep(shape_name: str, seed: int, k: int, settings: list[tuple[str, int, int]]) -> dict[str, Any]:
    """svd_compressed's worst top-k error on a generated set for each (iterator, power
    iterations, oversamples), against the exact SVD (ml-latest-small) or svds to machine
    precision: how svd_ratings.py chose its setting. In this process, dask's threads."""
    import time

    import dask
    import dask.array as da
    from scipy.sparse import csr_matrix

    shape = SHAPES[shape_name]
    # The reference as the benchmark makes it: the peer, with the exact SVD where it fits.
    one = peer({"kind": "generated", "shape": shape_name}, k, seed, exact=shape.films * shape.users * 8 <= 2**30)
    kind = "exact" if one["exact"] else "svds"
    reference = np.array((one["exact"] or one)["singularValues"])
    blocks = [generated_block(shape_name, seed, b) for b in range(shape.blocks)]
    meta = csr_matrix((0, 0), dtype=CLUSTER_DTYPE)
    parts = [
        da.from_delayed(dask.delayed(b.astype(CLUSTER_DTYPE)), b.shape, dtype=CLUSTER_DTYPE, meta=meta) for b in blocks
    ]
    matrix = da.concatenate(parts, axis=0)
    rows = []
    for iterator, q, p in settings:
        t0 = time.perf_counter()
        with dask.config.set(scheduler="threads"):
            _, s, _ = da.linalg.svd_compressed(matrix, k, iterator=iterator, n_power_iter=q, n_oversamples=p, seed=seed)
            values = s.compute()
        error = float(np.max(np.abs(values - reference) / reference))
        rows.append(
            {
                "iterator": iterator,
                "powerIter": q,
                "oversamples": p,
                "maxRelativeError": error,
                "seconds": time.perf_counter() - t0,
            }
        )
    return {"shape": shape_name, "seed": seed, "k": k, "reference": kind, "rows": rows}


def _scipy_version() -> str:
    import scipy

    return str(scipy.__version__)


def main(argv: list[str] | None = None) -> int:
    """python -m dask_vm_runtime.bench.ratings write|peer|sweep: a generated set as a
    MovieLens ratings.csv, the single-machine peer, or svd_compressed's error for some
    settings (one JSON document on stdout)."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m dask_vm_runtime.bench.ratings", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="write a generated set as a MovieLens ratings.csv")
    w.add_argument("--shape", choices=sorted(SHAPES), default="ml-latest-small")
    w.add_argument("--seed", type=int, default=42)
    w.add_argument("out", type=Path)
    pe = sub.add_parser("peer", help="svds on one machine (and the exact SVD with --exact)")
    group = pe.add_mutually_exclusive_group(required=True)
    group.add_argument("--generated", choices=sorted(SHAPES))
    group.add_argument("--file", type=Path)
    pe.add_argument("--seed", type=int, default=42)
    pe.add_argument("--k", type=int, default=10)
    pe.add_argument("--exact", action="store_true")
    sw = sub.add_parser("sweep", help="svd_compressed's error on a generated set for each ITERATOR:Q:P")
    sw.add_argument("--shape", choices=sorted(SHAPES), default="ml-latest-small")
    sw.add_argument("--seed", type=int, default=42)
    sw.add_argument("--k", type=int, default=10)
    sw.add_argument("settings", nargs="+", help="e.g. power:1:10 QR:8:30")
    args = parser.parse_args(argv)
    try:
        if args.command == "sweep":
            settings = [(t.split(":")[0], int(t.split(":")[1]), int(t.split(":")[2])) for t in args.settings]
            print(json.dumps(sweep(args.shape, args.seed, args.k, settings)))
        elif args.command == "write":
            print(json.dumps(write_csv(args.shape, args.seed, args.out)))
        else:
            source = (
                {"kind": "generated", "shape": args.generated}
                if args.generated
                else {"kind": "file", "path": str(args.file)}
            )
            print(json.dumps(peer(source, args.k, args.seed, args.exact)))
    except RatingsError as err:
        sys.stderr.write(f"error: {args.command}: {err}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
