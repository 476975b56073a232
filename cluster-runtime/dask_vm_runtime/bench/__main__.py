"""``python -m dask_vm_runtime.bench``: see cli.py."""

import sys

from .cli import main

# The guard matters: LocalCluster's worker processes are spawned and import this module
# again as __mp_main__; they must not start a second benchmark.
if __name__ == "__main__":
    sys.exit(main())
