"""dask_vm_runtime: what runs on every node of a dask-vm-cluster.

Shipped in the runtime bundle and copied into the node's venv by install.sh. Entry point:
``python -m dask_vm_runtime <command>`` (versions, service, client-versions,
wait-workers). Only the standard library and the packages of the lock are used, and the
modules that need distributed import it lazily, so ``versions`` and ``service`` also run
under a bare interpreter.
"""
