"""The command line of the node runtime: `python -m dask_vm_runtime <command>`.

Every command prints JSON on stdout (the provisioning stages parse it). Errors are one
line on stderr: exit 2 for bad arguments or definitions, 1 for failures.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from . import versions
from .errors import RuntimeCliError, bad_input
from .services import MANAGERS, definition

PROG = "python -m dask_vm_runtime"
ACTIONS = ("start", "stop", "status", "restart", "check", "unit")


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every default and keeps the descriptions' line breaks; an option without a
    default says in its help what happens without it, so "(default: None)" is left out."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line instead of argparse's usage block: stages log stderr line by line."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _root_default() -> Path | None:
    return versions.default_root()


def build_parser() -> Parser:
    root_help = "runtime folder on the node (holds venv/, etc/, run/, logs/, bundle-id); defaults to the folder of the running venv, required outside one"
    parser = Parser(prog=PROG, description=__doc__, formatter_class=Formatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser(
        "versions",
        help="print this node's Python, OS, bundle id and installed distributions",
        formatter_class=Formatter,
        description="Prints JSON: python, platform, os_release, bundle_id (ROOT/bundle-id) and every installed distribution.",
    )
    p.add_argument("--root", type=Path, default=_root_default(), help=root_help)

    p = sub.add_parser(
        "service",
        help="start, stop, inspect a service defined in ROOT/etc/NAME.json",
        formatter_class=Formatter,
        description=(
            'A service is ROOT/etc/NAME.json = {"argv": [...], "env": {...}, "cwd": "..."}.\n'
            "systemd: a unit dvc-NAME.service (VMs; outside /opt/dask-vm-cluster, dvc-NAME-HASH.service,\n"
            "HASH from ROOT); systemd-user: the same as the login user's own unit\n"
            "(systemctl --user). supervisor: a daemon that restarts the\n"
            "process and logs to ROOT/logs/NAME.log (network namespaces, no systemd).\n"
            "start/stop are idempotent; each action prints the status as JSON\n"
            "({name, running, pid, child_pid, since, restarts}); `unit` prints the systemd unit.\n"
            '`check` adds whether the process ended since the last (re)start ("ended", null while\n'
            'it never did) and then the last lines of its log ("log_tail"): a stage that waits\n'
            "for a service asks it, to report one that dies as it starts at once."
        ),
    )
    p.add_argument("action", choices=ACTIONS, help="what to do")
    p.add_argument("name", help="service name: lowercase letters, digits, dashes (e.g. scheduler, worker)")
    p.add_argument("--root", type=Path, default=_root_default(), help=root_help)
    p.add_argument("--manager", choices=MANAGERS, default=None, help="who runs the service; required except for `unit`")

    common_help = {
        "scheduler": "scheduler address, e.g. tls://192.168.56.11:8786",
        "tls": "folder with ca.pem, client.pem, client-key.pem for mutual TLS (required for tls:// addresses)",
    }
    p = sub.add_parser(
        "client-versions",
        help="versions of client, scheduler and every worker, with mismatches",
        formatter_class=Formatter,
        description="Prints JSON {versions, mismatches, distributed_warning}: client.get_versions(check=False) and the\npackages whose versions differ, by distributed's own rule.",
    )
    _scheduler_args(p, common_help)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the connection")
    p.add_argument(
        "--package",
        action="append",
        dest="packages",
        default=None,
        help="extra package to compare (repeatable); default: bokeh",
    )
    p.add_argument("--check", action="store_true", help="exit 1 when there is a mismatch")

    p = sub.add_parser(
        "wait-workers",
        help="wait until N workers, or the named ones, are registered",
        formatter_class=Formatter,
        description="Prints JSON [{address, name, host, nthreads, memory_limit}] once N workers (--n), or workers with\n"
        "every given name (--names), are registered. One process waits: on an emulated VM its start-up\n"
        "(importing distributed) costs minutes, so callers should not poll by starting it again.",
    )
    _scheduler_args(p, common_help)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--n",
        type=int,
        help="number of workers to wait for; 0 lists the registered workers as soon as the scheduler answers",
    )
    which.add_argument(
        "--names",
        type=_names,
        help="comma-separated worker names to wait for, e.g. node1,node2; empty lists the workers as soon as the scheduler answers",
    )
    p.add_argument(
        "--dashboard",
        default=None,
        help="ask the scheduler's dashboard (e.g. http://192.168.56.11:8787) instead of connecting a Dask client: no `import distributed`, which takes minutes of CPU on an emulated VM",
    )
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait in all (connection included)")

    p = sub.add_parser(
        "run-script",
        help="run a Python script as npm run submit does: connected to the cluster first",
        formatter_class=Formatter,
        description="Connects a client through the connection profile ($DASK_CONFIG) and stops (exit 1) when the scheduler\n"
        "is down or refuses this client's versions; then runs SCRIPT as __main__ with ARGS; the exit code is the script's.",
    )
    p.add_argument("script", help="the script, as a path in the submitted folder")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the first connection")

    p = sub.add_parser(
        "run-notebook",
        help="run a notebook top to bottom with nbclient (needs the notebook's packages on PYTHONPATH)",
        formatter_class=Formatter,
        description="Executes every cell of SOURCE in KERNEL, printing a line per cell; writes the executed notebook to OUT\n(also when a cell fails: then exit 1, naming the cell).",
    )
    p.add_argument("source", help="the notebook to run")
    p.add_argument("out", help="where the executed notebook is written")
    p.add_argument("--kernel", default="dask-cluster", help="kernel spec name")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds one cell may take")

    p = sub.add_parser(
        "chaos",
        help="put a fault on this node (npm run chaos): kill, cut, slow, fill, restore",
        formatter_class=Formatter,
        description="kill worker|scheduler; cut (the private link down for --for s); slow (the worker at --percent of\n"
        "the CPU for --for s); fill (node 1: data pinned to --worker up to --fraction of its memory limit, for\n"
        "--for s); restore (every fault of this node ended, --services started); active (the faults running).\n"
        "Prints JSON. Timed faults run in a process of their own and end by themselves.",
    )
    p.add_argument("action", choices=("kill", "cut", "slow", "throttle", "fill", "fill-run", "restore", "active"))
    p.add_argument("service", nargs="?", choices=("worker", "scheduler"), help="for kill")
    p.add_argument("--root", type=Path, default=_root_default(), help=root_help)
    p.add_argument("--manager", choices=MANAGERS, default="supervisor", help="who runs the services")
    p.add_argument("--ip", help="for cut: the node's private IP (its interface is the one cut)")
    p.add_argument("--for", dest="seconds", type=float, default=30.0, help="seconds a timed fault lasts")
    p.add_argument("--percent", type=int, default=25, help="for slow: the CPU share the worker keeps (1-99)")
    p.add_argument("--fraction", type=float, default=0.75, help="for fill: of the worker's memory limit")
    p.add_argument("--worker", help="for fill: the worker's name")
    p.add_argument("--scheduler", help="for fill: the scheduler's address")
    p.add_argument("--tls-dir", type=Path, default=None, help=common_help["tls"])
    p.add_argument("--services", default="", help="for restore: the services of this node, e.g. scheduler,worker")

    p = sub.add_parser(
        "lab",
        help="who does the work: N small tasks, the results back within a timeout, by worker (npm run lab)",
        formatter_class=Formatter,
        description="`lab spread`: prints JSON {tasks, returned: {worker: n}, back, seconds, not_back: {holder: n}}.",
    )
    p.add_argument("action", choices=("spread",))
    _scheduler_args(p, common_help)
    p.add_argument("--tasks", type=int, default=30, help="how many tasks")
    p.add_argument("--seconds", type=float, default=0.2, help="how long each task sleeps")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the results")

    p = sub.add_parser(
        "diagnose",
        help="what is wrong with a Dask cluster: addresses, reachability, versions, threads, memory, clocks",
        formatter_class=Formatter,
        description="Looks at any running Dask cluster through a client and small tasks pinned to each worker; changes\n"
        "nothing there. Exit 0 healthy, 1 with findings (each with what it means and the fix), 2 on bad input.",
    )
    p.add_argument(
        "--scheduler", default=None, help=common_help["scheduler"] + "; default: the profile's ($DASK_CONFIG)"
    )
    p.add_argument("--tls-dir", type=Path, default=None, help=common_help["tls"])
    p.add_argument("--tls-ca-file", default=None, help="CA certificate (PEM), as dask worker takes it")
    p.add_argument("--tls-cert", default=None, help="client certificate (PEM)")
    p.add_argument("--tls-key", default=None, help="client key (PEM)")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds for the connection and for each probe round")
    p.add_argument("--json", action="store_true", help="print the findings and the facts as JSON")
    return parser


def _scheduler_args(p: argparse.ArgumentParser, common_help: dict[str, str]) -> None:
    """--scheduler (required) and --tls-dir, as every client command takes them."""
    p.add_argument("--scheduler", required=True, help=common_help["scheduler"])
    p.add_argument("--tls-dir", type=Path, default=None, help=common_help["tls"])


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", n)]
    if bad:
        raise argparse.ArgumentTypeError(f"worker names are letters, digits and ._- (got {', '.join(bad)})")
    return names


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def _require_root(root: Path | None) -> Path:
    if root is None:
        raise bad_input("--root is required outside the runtime venv: pass the node's runtime folder")
    return definition.check_root(root)


def _service(args: argparse.Namespace) -> int:
    name = definition.check_name(args.name)
    root = _require_root(args.root)
    if args.action == "unit":
        from .services import systemd

        _, text = systemd.unit_for(root, name, systemd.USER if args.manager == "systemd-user" else systemd.SYSTEM)
        sys.stdout.write(text)
        return 0
    if args.manager is None:
        raise bad_input(f"service {args.action} needs --manager ({' or '.join(MANAGERS)})")
    from .services import manage

    result = manage(root, name, args.manager, "status" if args.action == "check" else args.action)
    if args.action == "check":
        result["ended"] = definition.ended_since_start(result)
        result["log_tail"] = definition.log_tail(definition.ServicePaths(root, name).log) if result["ended"] else []
    _print_json(result)
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "versions":
        root = args.root.resolve() if args.root else None
        _print_json(versions.collect(root))
        return 0
    if args.command == "service":
        return _service(args)
    if args.command == "run-script":
        from . import run_script

        return run_script.run(args.script, args.args, args.timeout)
    if args.command == "chaos":
        from . import chaos

        return chaos.main(args)
    if args.command == "lab":
        from . import lab

        return lab.main(args)
    if args.command == "diagnose":
        from . import diagnose

        return diagnose.run(
            args.scheduler, args.tls_dir, args.tls_ca_file, args.tls_cert, args.tls_key, args.timeout, args.json
        )
    if args.command == "run-notebook":
        from . import notebook_run

        return notebook_run.run(args.source, args.out, args.kernel, args.timeout)
    from . import client

    if args.command == "client-versions":
        result = client.client_versions(
            args.scheduler, args.tls_dir, args.timeout, args.packages if args.packages is not None else ["bokeh"]
        )
        _print_json(result)
        return 1 if args.check and result["mismatches"] else 0
    if args.command == "wait-workers":
        want = args.n if args.names is None else args.names
        if args.dashboard:
            _print_json(client.wait_workers_dashboard(args.scheduler, args.dashboard, want, args.timeout))
        else:
            _print_json(client.wait_workers(args.scheduler, args.tls_dir, want, args.timeout))
        return 0
    raise bad_input(f"unknown command {args.command}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except RuntimeCliError as err:
        sys.stderr.write(f"{PROG}: error: {err}\n")
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
