"""Benchmark workloads of dask-vm-cluster: the two seed write-ups' experiments, made to
work on the cluster (inc-sleep, map-reduce, placement, svd, svd-ratings).

Run by the benchmark stage as a client on node1: ``python -m dask_vm_runtime.bench``
(see cli.py for the contract). The functions the workers execute live in tasks.py, which
imports only the standard library and numpy, so that unpickling a task on a worker stays
cheap; everything that needs distributed imports it inside the workload modules.
"""

SCHEMA_VERSION = 1
WORKLOADS = ("inc-sleep", "map-reduce", "placement", "svd", "svd-ratings")
