"""--nodes parsing and the worker-to-node map of the benchmark."""

import pytest

from dask_vm_runtime.bench import cluster
from dask_vm_runtime.errors import RuntimeCliError


def test_parse_nodes():
    nodes = cluster.parse_nodes('[{"name":"node1","ip":"192.168.56.11","threads":2,"memoryLimitMb":1536}]')
    assert nodes == [cluster.Node("node1", "192.168.56.11", 2, 1536)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "is not JSON"),
        ("[]", "non-empty JSON list"),
        ('[{"name":"node1","ip":"x","threads":0}]', "threads must be an integer >= 1"),
        ('[{"name":"node1","ip":"x","threads":1,"cpu":2}]', "unknown field"),
        ('[{"name":"n1","ip":"x","threads":1},{"name":"n1","ip":"y","threads":1}]', "more than once"),
    ],
)
def test_parse_nodes_refuses_bad_input_naming_it(text, message):
    with pytest.raises(RuntimeCliError, match=message):
        cluster.parse_nodes(text)


def test_node_of_matches_by_name_first_then_by_unique_ip():
    nodes = [cluster.Node("node1", "10.0.0.1", 1, 0), cluster.Node("node2", "10.0.0.2", 1, 0)]
    assert cluster.node_of("node1", "127.0.0.1", nodes) == "node1"
    assert cluster.node_of("node2-1", "10.0.0.9", nodes) == "node2"
    assert cluster.node_of("tcp-worker", "10.0.0.2", nodes) == "node2"
    assert cluster.node_of("other", "10.0.0.9", nodes) is None
