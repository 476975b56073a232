"""The service layer of the node runtime: how the scheduler, a worker and JupyterLab run on
a node. ``definition`` reads a service's definition (argv, environment, paths: written by
provision/services/definitions.ts) and what every manager shares; ``systemd`` runs it as a
unit (system or user); ``supervisor`` runs it under the runtime's own supervisor where
there is no systemd to use. ``python -m dask_vm_runtime service ...`` (cli.py) picks one."""
