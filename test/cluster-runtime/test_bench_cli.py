"""The bench's --host-cpus: recorded in the results' config (the report bounds speed-up
goals by it), none by default, and a count below 1 refused as bad input."""

import pytest
from conftest import NODES_JSON

from dask_vm_runtime.bench import cli
from dask_vm_runtime.errors import RuntimeCliError


def parse(*extra: str):
    return cli.build_parser().parse_args(
        ["--scheduler", "tcp://127.0.0.1:8786", "--nodes", NODES_JSON, "--out", "results.json", *extra]
    )


def test_host_cpus_is_recorded_in_the_config():
    args = parse("--host-cpus", "2")
    workloads, nodes, counts = cli.check_args(args)
    assert cli.config_report(args, workloads, nodes, counts)["hostCpus"] == 2


def test_host_cpus_defaults_to_none():
    args = parse()
    workloads, nodes, counts = cli.check_args(args)
    assert cli.config_report(args, workloads, nodes, counts)["hostCpus"] is None


def test_host_cpus_below_one_is_bad_input():
    with pytest.raises(RuntimeCliError) as err:
        cli.check_args(parse("--host-cpus", "0"))
    assert err.value.exit_code == 2
    assert "--host-cpus 0: must be 1 or more" in str(err.value)
