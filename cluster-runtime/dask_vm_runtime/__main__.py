"""``python -m dask_vm_runtime``: see cli.py."""

import sys

from .cli import main

sys.exit(main())
