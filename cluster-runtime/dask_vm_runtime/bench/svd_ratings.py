"""svd-ratings (seed 2, the write-up's own SVD): the films × users matrix of real ratings,
sparse all the way, decomposed by the cluster and judged against a reference.

The write-up densified its MovieLens matrix and concluded it was "not distributable": at
MovieLens 32M's size a dense float64 matrix needs about 140 GB, its ratings about 0.4 GB
as a sparse one. Here the matrix is row blocks of SciPy csr_matrix on the workers, never
densified, and da.linalg.svd_compressed (a randomized truncated SVD) runs on the raw
ratings (centring would make it dense).

Sources (--svd-matrix): a ratings file on the client's node, sent to the workers in byte
ranges; ``data:NAME/FILE``, each worker reading its own node's copy (npm run data -- push);
``generated:ml-latest-small`` or ``generated:ml-32m``, made on the workers from the seed
with that MovieLens release's shape (the default: ml-32m in the full size, ml-latest-small
in the small one). In every case:

- the reference: the exact SVD of the dense matrix where it fits one machine, else SciPy's
  svds run to machine precision (tol=0), in a process of its own on the client's node;
- the peer: that same svds run, the single-machine tool a student would use instead,
  with its time and peak memory;
- the cluster, on the workers of 1, 2, ... nodes: the matrix is loaded onto the case's
  workers (timed apart), then svd_compressed is timed, its top-k judged against the
  reference, and the workers' peak memory recorded.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import RuntimeCliError, bad_input
from . import cluster, ratings, svd
from .context import Bench, median

if TYPE_CHECKING:
    import dask.array as da
    from distributed import Client

NAME = "svd-ratings"
# Chosen on the generated sets, worst relative error of the top 10 against the exact SVD
# (ml-latest-small) or svds to machine precision (ml-32m), measured on this project's 2-core
# machine with `python -m dask_vm_runtime.bench.ratings sweep --shape S power:1:10 ...`:
#   iterator  q   p   ml-latest-small  ml-32m
#   power     1  10   16.2 %           18.9 %   (the dense workload's setting)
#   power     4  30   0.30 %           1.42 %
#   power     6  30   0.027 %          0.35 %
#   power     8  30   0.002 %          10.1 %   (no orthonormalization between iterations: at
#                                                ml-32m, (s1/s40)^17 drowns the small values)
#   QR        6  30   0.027 %          0.35 %
#   QR        6  60   0.001 %          0.040 %  (160 s on 2 threads)
#   QR        8  30   0.002 %          0.085 %  (109 s)
# QR keeps more iterations safe; 8 and 30 give a tenfold margin under the 1 % goal with thin
# factors of k + 30 columns (users × 40 float32: 32 MB at ml-32m's size), 18 passes.
ITERATOR = "QR"
POWER_ITER = 8
OVERSAMPLES = 30
RANGE_BYTES = 32 * 2**20  # a file is parsed in ranges of about this size, at least 2 per worker thread
RATINGS_PER_BLOCK = 700_000  # a file's row units: about this many ratings each, at least 4 per worker thread
# The case's copy of the matrix is held in memory when it takes at most this share of a
# worker's memory limit; else (a generated set only) its blocks are made again on every pass.
HOLD_SHARE = 0.4
SPARSE_BYTES_PER_RATING = 8  # float32 value (ratings.CLUSTER_DTYPE) + int32 column index
# The peer's peak memory per rating, its load included: 33 bytes measured for generated:ml-32m
# (1.05 GB); a file is read whole, decoded and parsed (about 28 bytes a line in MovieLens'
# files, times four copies on the way, plus the arrays), about 160.
PEER_BYTES_PER_RATING = {"generated": 40, "file": 160, "data": 160}
# Making one generated block peaks at about this many bytes per rating (36 measured for
# ml-32m's row units, 0.57 to 7.8 million ratings a block); a block may take this share of
# the smallest worker's limit, so a 1 GiB node (an 8 GB laptop's) holds its part of the
# matrix and makes the next block without its nanny killing it.
GEN_BYTES_PER_RATING = 40
BLOCK_SHARE = 0.2
# Work worth spreading: enough blocks for every worker thread, each a real task.
MIN_BLOCKS_PER_THREAD = 2
MIN_RATINGS_PER_BLOCK = 200_000


def cases(bench: Bench) -> int:
    return len(bench.node_counts)


@dataclass
class Source:
    kind: str  # "file" (sent), "data" (each node's copy) or "generated"
    label: str
    shape: str = ""  # generated
    path: str = ""  # file: on the client's node; data: relative to data_dir() on every node

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "shape": self.shape or None, "path": self.path or None}


# ml-32m's one-node case runs with workers of 1 GiB (issue 26's runs) and dies with 512 MiB
# (an 8 GB laptop's default node of 1024 MiB gives its worker half): its users × (k + p)
# partial products pile up faster than the blocks go. Under this limit the full-size default
# is ml-10m's shape, a third of the ratings, still worth spreading.
ML32M_MIN_WORKER_BYTES = 2**30


def default_shape(size: str, min_worker_bytes: int | None) -> str:
    if size != "full":
        return "ml-latest-small"
    return "ml-32m" if min_worker_bytes is None or min_worker_bytes >= ML32M_MIN_WORKER_BYTES else "ml-10m"


def parse_source(text: str | None, size: str, min_worker_bytes: int | None = None) -> Source:
    if text is None:
        shape = default_shape(size, min_worker_bytes)
        return Source("generated", f"generated:{shape}", shape=shape)
    if text.startswith("generated:"):
        shape = text.removeprefix("generated:")
        if shape not in ratings.SHAPES:
            raise bad_input(
                f"--svd-matrix {text}: no such generated set; allowed: {', '.join(f'generated:{s}' for s in ratings.SHAPES)}"
            )
        return Source("generated", text, shape=shape)
    if text.startswith("data:"):
        rel = text.removeprefix("data:").strip("/")
        if not rel or ".." in Path(rel).parts:
            raise bad_input(f"--svd-matrix {text}: give a file under data_dir(), e.g. data:movielens/ratings.csv")
        return Source("data", text, path=rel)
    if not Path(text).is_file():
        raise bad_input(
            f"--svd-matrix {text} is not a file; give a MovieLens ratings.csv, data:NAME/FILE or generated:ml-32m"
        )
    return Source("file", text, path=str(Path(text).resolve()))


# --- the matrix ------------------------------------------------------------------------


@dataclass
class Matrix:
    """The films × users matrix as the cluster builds it: row units (a generated set's
    fixed ones, or a file's), grouped into the row blocks of each case by ``blocks``."""

    source: Source
    shape: tuple[int, int]
    ratings: int
    row_chunks: tuple[int, ...]  # rows of each unit
    about: dict[str, Any]
    held: list[Any]  # futures kept for the whole run (a file's ranges, split by unit)
    split: list[Any]

    def blocks(self, seed: int, count: int) -> da.Array:
        """The lazy dask array of ``count`` row blocks, consecutive units each."""
        import dask
        import dask.array as da
        from scipy.sparse import csr_matrix

        meta = csr_matrix((0, 0), dtype=ratings.CLUSTER_DTYPE)
        n = self.shape[1]
        parts = []
        first = 0
        for size in ratings.balanced(len(self.row_chunks), count):
            units = self.row_chunks[first : first + size]
            rows = sum(units)
            if self.source.kind == "generated":
                block = dask.delayed(ratings.generated_rows, pure=True)(self.source.shape, seed, first, size)
            else:
                shapes = [(r, n) for r in units]
                block = dask.delayed(ratings.file_rows, pure=True)(first, shapes, *self.split)
            parts.append(da.from_delayed(block, (rows, n), dtype=ratings.CLUSTER_DTYPE, meta=meta))
            first += size
        return da.concatenate(parts, axis=0)


def _file_ranges(size: int, start: int, threads: int) -> list[tuple[int, int]]:
    count = max(MIN_BLOCKS_PER_THREAD * threads, math.ceil((size - start) / RANGE_BYTES), 1)
    cuts = [start + (size - start) * i // count for i in range(count + 1)]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


@dataclass(frozen=True)
class Reader:
    """A worker that reads a file's ranges: its address, threads, and the machine whose
    copy it reads (a node name, or the worker's host where there are no nodes)."""

    address: str
    nthreads: int
    machine: str


def _file_facts(client: Client, readers: list[Reader], source: Source) -> dict[str, Any]:
    """The file's size and first line: the client's own file, or each machine's copy
    (they must all hold the same one)."""
    if source.kind == "file":
        facts = ratings.file_facts(source.path)
        if "error" in facts:
            raise bad_input(f"--svd-matrix {source.label}: cannot read it ({facts['error']})")
        return facts
    seen: dict[str, dict[str, Any]] = {}
    for reader in readers:
        if reader.machine not in seen:
            seen[reader.machine] = client.submit(
                ratings.data_facts, source.path, workers=[reader.address], allow_other_workers=False, pure=False
            ).result()
    missing = {n: f["error"] for n, f in seen.items() if "error" in f}
    if missing:
        raise bad_input(
            f"--svd-matrix {source.label}: {', '.join(f'{n} ({e})' for n, e in missing.items())} cannot read it; "
            f"copy it to every node: npm run data -- push <folder holding {Path(source.path).name}> --name {Path(source.path).parts[0]}"
        )
    sizes = {n: f["size"] for n, f in seen.items()}
    if len(set(sizes.values())) > 1:
        raise bad_input(
            f"--svd-matrix {source.label}: the nodes hold different copies (sizes {sizes}); push it again to every node: npm run data -- push"
        )
    return next(iter(seen.values()))


def load_file(client: Client, readers: list[Reader], source: Source, progress: Callable[[str], None]) -> Matrix:
    """Parses the file on the workers, range by range, checks every line, and splits the
    ratings into row blocks held on the workers. A bad line is bad input (exit 2)."""
    facts = _file_facts(client, readers, source)
    if facts["size"] == 0:
        raise bad_input(f"--svd-matrix {source.label} is empty; a ratings file holds {ratings.FORMAT}")
    try:
        layout = ratings.layout_of(facts["firstLine"].rstrip("\r\n"))
    except ratings.RatingsError as err:
        raise bad_input(f"--svd-matrix {source.label} {err}") from None
    start = facts["firstLineBytes"] if layout.header else 0
    threads = sum(w.nthreads for w in readers)
    ranges = _file_ranges(facts["size"], start, threads)
    progress(f"parsing {source.label}: {facts['size'] / 1e6:.1f} MB in {len(ranges)} ranges on {len(readers)} workers")
    parsed = []
    for i, (a, b) in enumerate(ranges):
        worker = readers[i % len(readers)].address
        if source.kind == "file":
            # Sent from here one range at a time: the client never holds the whole file.
            data = client.scatter(ratings.read_lines(source.path, a, b), workers=[worker], hash=False)
        else:
            data = client.submit(
                ratings.data_range, source.path, a, b, workers=[worker], allow_other_workers=False, pure=False
            )
        parsed.append(
            client.submit(ratings.parse_range, data, layout, workers=[worker], allow_other_workers=False, pure=False)
        )
    summaries = client.gather([client.submit(ratings.range_ids, p, pure=False) for p in parsed])
    line = 1 if layout.header else 0
    for s in summaries:
        if s["error"] is not None:
            err = ratings.RatingsError.from_json(s["error"]).at_line(line)
            raise bad_input(f"--svd-matrix {source.label} {err}")
        line += s["lines"]
    total = sum(s["ratings"] for s in summaries)
    if total == 0:
        raise bad_input(
            f"--svd-matrix {source.label} holds no ratings, only {'a header' if layout.header else 'empty lines'}; a ratings file holds {ratings.FORMAT}"
        )
    movie_ids = np.unique(np.concatenate([s["movies"] for s in summaries]))
    user_ids = np.unique(np.concatenate([s["users"] for s in summaries]))
    m, n = len(movie_ids), len(user_ids)
    count = max(4 * threads, math.ceil(total / RATINGS_PER_BLOCK))
    chunks = ratings.balanced(m, count)
    row_starts = np.cumsum((0, *chunks))
    ids = client.scatter([movie_ids, user_ids, row_starts], broadcast=True, hash=False)
    split = [client.submit(ratings.split_range, p, *ids, pure=False) for p in parsed]
    cluster_wait(split)
    del parsed
    about = {"file": source.label, "lines": line, "bytes": facts["size"], **layout.as_json()}
    return Matrix(source, (m, n), total, chunks, about, held=[*split, *ids], split=split)


def cluster_wait(futures: list[Any]) -> None:
    from distributed import wait

    wait(futures)
    failed = [f for f in futures if f.status == "error"]
    if failed:
        failed[0].result()


def generated(source: Source, seed: int) -> Matrix:
    shape = ratings.SHAPES[source.shape]
    return Matrix(
        source,
        (shape.films, shape.users),
        shape.ratings,  # the target; the blocks' own count is measured on the first case
        ratings.row_chunks(shape),
        {"generated": shape.name, "seed": seed},
        held=[],
        split=[],
    )


def ratings_matrix(client: Client, matrix: str, seed: int = 42) -> tuple[da.Array, dict[str, Any], list[Any]]:
    """For a notebook or a script: the sparse films × users matrix of ``matrix`` (a ratings
    file of this machine, data:NAME/FILE, or generated:SHAPE) on every worker of the
    cluster, as the benchmark builds it. Returns the dask array (row blocks of csr_matrix,
    held on the workers), what it is, and the futures to keep while it is used."""
    from distributed import wait

    source = parse_source(matrix, "small")
    readers = [
        Reader(a, int(w["nthreads"]), str(w["host"])) for a, w in client.scheduler_info(n_workers=-1)["workers"].items()
    ]
    if source.kind == "generated":
        loaded = generated(source, seed)
    else:
        loaded = load_file(client, readers, source, lambda step: print(step, flush=True))
    threads = sum(r.nthreads for r in readers)
    count = min(len(loaded.row_chunks), MIN_BLOCKS_PER_THREAD * threads)
    X = client.persist(loaded.blocks(seed, count))
    wait(X)
    about = {**loaded.about, "films": loaded.shape[0], "users": loaded.shape[1], "blocks": count}
    return X, about, loaded.held


# --- the peer and the reference ----------------------------------------------------------


def run_peer(bench: Bench, source: Source, matrix: Matrix, k: int, exact: bool) -> dict[str, Any]:
    """svds (and the exact SVD when the dense matrix fits) in a process of its own on the
    client's node, node 1: what a student would run on one machine."""
    spec = peer_source(source)
    where = ["--generated", spec["shape"]] if spec["kind"] == "generated" else ["--file", spec["path"]]
    argv = [
        sys.executable,
        "-m",
        "dask_vm_runtime.bench.ratings",
        "peer",
        *where,
        "--seed",
        str(bench.seed),
        "--k",
        str(k),
    ]
    if exact:
        argv.append("--exact")
    bench.events.progress(NAME, f"one machine: svds{' and the exact SVD' if exact else ''} on {bench.nodes[0].name}")
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeCliError(
            f"the single-machine peer ({' '.join(argv[1:5])}) failed with exit code {done.returncode}: {tail}"
        )
    result = json.loads(done.stdout)
    result["node"] = bench.nodes[0].name
    return result


def peer_source(source: Source) -> dict[str, Any]:
    """What ratings.peer reads on this machine: the generated set, or a file (a node's
    copy of data: is this node's own)."""
    if source.kind == "generated":
        return {"kind": "generated", "shape": source.shape}
    return {"kind": "file", "path": source.path if source.kind == "file" else ratings.data_path(source.path)}


def one_machine(matrix: str, k: int = 10, seed: int = 42) -> dict[str, Any]:
    """For a notebook: SciPy's svds on ``matrix`` in this process, the peer's figures."""
    return ratings.peer(peer_source(parse_source(matrix, "small")), k, seed, exact=False)


def _available_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


# --- the run -----------------------------------------------------------------------------


def errors_against(values: Any, reference: list[float]) -> list[float]:
    return [abs(float(a) - b) / b for a, b in zip(values, reference, strict=False)]


def run(bench: Bench) -> dict[str, Any]:
    import dask
    import dask.array as da
    from distributed import wait

    opts = bench.svd
    client = bench.client
    k, q, p = svd.settings(opts, POWER_ITER, OVERSAMPLES)
    min_worker_bytes = bench.topology.min_memory_limit()
    source = parse_source(opts.matrix, bench.size, min_worker_bytes)
    if opts.matrix is None and source.shape != default_shape(bench.size, None):
        bench.events.progress(
            NAME,
            f"{source.label}: the workers have {min_worker_bytes / 2**20:.0f} MiB each, and ml-32m's one-node case needs {ML32M_MIN_WORKER_BYTES / 2**30:.0f} GiB (give --svd-matrix generated:ml-32m on bigger nodes)",
        )

    if source.kind == "generated":
        matrix = generated(source, bench.seed)
    else:
        readers = [Reader(w.address, w.nthreads, w.node) for w in bench.topology.workers]
        matrix = load_file(client, readers, source, lambda step: bench.events.progress(NAME, step))
    bench.keep = [f.key for f in matrix.held]
    m, n = matrix.shape
    if min(m, n) <= k + p:
        raise bad_input(
            f"--svd-matrix {source.label}: a {m} × {n} matrix is too small for --svd-k {k} with {p} oversamples; it needs more than {k + p} films and users"
        )
    dense_bytes = m * n * 8
    free = _available_bytes()
    need = matrix.ratings * PEER_BYTES_PER_RATING[source.kind]
    peer: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None
    peer_skipped = None
    if need <= free * 0.8:
        # The dense path where it fits one machine: at most a quarter of what node 1 has free.
        exact = dense_bytes <= min(2**31, free // 4)
        peer = run_peer(bench, source, matrix, k, exact)
        if peer["exact"] is not None:
            reference = {"kind": "exact", **{key: peer["exact"][key] for key in ("tool", "singularValues")}}
        else:
            reference = {"kind": "svds", "tool": peer["tool"], "singularValues": peer["singularValues"]}
        peer["relativeErrors"] = errors_against(peer["singularValues"], reference["singularValues"])
        peer["maxRelativeError"] = max(peer["relativeErrors"])
    else:
        peer_skipped = (
            f"svds in one process needs about {need / 2**30:.1f} GiB for {matrix.ratings:,} ratings; "
            f"{bench.nodes[0].name} has {free / 2**30:.1f} GiB free: one machine of this size does not suffice, "
            "and without it there is no reference to judge the cluster's values against"
        )
        bench.events.progress(NAME, f"one machine: skipped ({peer_skipped})")
    ref = reference["singularValues"] if reference else None

    min_limit = bench.topology.min_memory_limit()
    out_cases = []
    last: dict[str, Any] = {}
    for nodes in bench.node_counts:
        label = f"{nodes} node(s)"
        bench.before_case(NAME, label)
        addresses = bench.topology.addresses(nodes)
        workers = len(addresses)
        sparse_bytes = matrix.ratings * SPARSE_BYTES_PER_RATING
        held = source.kind != "generated" or sparse_bytes / workers <= HOLD_SHARE * min_limit
        before = cluster.memory_reports(client, addresses)
        # Two row blocks per worker thread: enough to keep every thread busy, and few, since
        # each block's share of Xᵀ·H is a whole users × (k + p) array to send and sum.
        by_memory = math.ceil(matrix.ratings * GEN_BYTES_PER_RATING / (BLOCK_SHARE * min_limit)) if min_limit else 1
        count = min(len(matrix.row_chunks), max(MIN_BLOCKS_PER_THREAD * bench.topology.slots(nodes), by_memory))
        lazy = matrix.blocks(bench.seed, count)
        t0 = time.perf_counter()
        if held:
            bench.events.progress(NAME, f"{label}: building the matrix on {workers} worker(s)")
            X = client.persist(lazy, workers=addresses, allow_other_workers=False)
            wait(X)
            nnz = int(sum(dask.compute(*[dask.delayed(ratings.nnz)(b) for b in X.to_delayed().ravel()])))
        else:
            X = lazy
            nnz = matrix.ratings
        load_seconds = time.perf_counter() - t0
        del lazy  # its graph holds the file's blocks: X alone refers to them from here
        runs = []
        for rep in range(bench.repeats):
            bench.events.progress(
                NAME,
                f"{label}: svd_compressed of {m}×{n} ({nnz:,} ratings), k={k}, {ITERATOR} q={q} p={p}, repeat {rep + 1}/{bench.repeats}",
            )
            t0 = time.perf_counter()
            with dask.annotate(workers=addresses, allow_other_workers=False):
                u_, s_, v_ = da.linalg.svd_compressed(
                    X, k, iterator=ITERATOR, n_power_iter=q, n_oversamples=p, seed=bench.seed, compute=True
                )
                u, s, v = dask.compute(u_, s_, v_)
            seconds = time.perf_counter() - t0
            del u_, s_, v_
            errors = errors_against(s, ref) if ref else None
            runs.append({"seconds": seconds, "maxRelativeError": max(errors) if errors else None})
            last = {"u": u, "s": s, "v": v, "nodes": nodes, "X": X}
        after = cluster.memory_reports(client, addresses)
        errors = errors_against(last["s"], ref) if ref else None
        case = {
            "nodes": nodes,
            "nodeNames": bench.topology.node_names(nodes),
            "workers": addresses,
            "slots": bench.topology.slots(nodes),
            "held": held,
            "blocks": count,
            "ratings": nnz,
            "loadSeconds": load_seconds,
            "seconds": median([r["seconds"] for r in runs]),
            "minSeconds": min(r["seconds"] for r in runs),
            "singularValues": [float(x) for x in last["s"]],
            "relativeErrors": errors,
            "maxRelativeError": max(errors) if errors else None,
            "workerMemory": cluster.memory_rows(bench.topology, addresses, before, after),
            "runs": runs,
        }
        out_cases.append(case)
        bench.events.case(NAME, label, {key: case[key] for key in ("nodes", "seconds", "maxRelativeError")})
        if nodes != bench.node_counts[-1]:
            del X
            last.pop("X")
            bench.settle()

    bench.events.progress(NAME, "checking the last decomposition: residuals ‖X·v − s·u‖ / s")
    X = last.pop("X")
    check = svd.residual_check(X, last)
    ratings_count = out_cases[-1]["ratings"]
    threads = max(c["slots"] for c in out_cases)
    blocks = out_cases[-1]["blocks"]
    about = matrix.about
    del X, matrix
    bench.keep = []
    bench.settle()
    return {
        "source": source.as_json(),
        "dataset": {
            "films": m,
            "users": n,
            "ratings": ratings_count,
            "density": ratings_count / (m * n),
            **about,
        },
        "shape": [m, n],
        "sparseBytes": ratings_count * SPARSE_BYTES_PER_RATING,
        "denseBytes": dense_bytes,
        "minWorkerMemoryLimitBytes": min_limit,
        "blocks": blocks,
        "rowsPerBlock": m // blocks,
        "ratingsPerBlock": ratings_count // blocks,
        "workToSpread": {
            "blocksPerThread": blocks / threads,
            "ratingsPerBlock": ratings_count / blocks,
            "enough": blocks >= MIN_BLOCKS_PER_THREAD * threads and ratings_count / blocks >= MIN_RATINGS_PER_BLOCK,
            "rule": f"at least {MIN_BLOCKS_PER_THREAD} blocks per worker thread and {MIN_RATINGS_PER_BLOCK:,} ratings per block",
        },
        "k": k,
        "iterator": ITERATOR,
        "nPowerIter": q,
        "nOversamples": p,
        "passesOverMatrix": 2 * q + 2,
        "seed": bench.seed,
        "reference": reference,
        "peer": peer,
        "peerSkipped": peer_skipped,
        "cases": out_cases,
        "check": check,
    }
