"""The benchmark workloads at size small on a cluster of three one-thread workers in this
process: right totals, and work on the nodes each case was given."""

from dask_vm_runtime.bench import inc_sleep, map_reduce, placement, svd


def test_inc_sleep_is_right_and_uses_only_the_nodes_of_each_case(bench):
    result = inc_sleep.run(bench)
    assert result["expectedTotal"] == 36
    by = {(c["nodes"], c["reduction"]): c for c in result["cases"]}
    assert set(by) == {(1, "python-sum"), (1, "delayed-sum"), (3, "python-sum"), (3, "delayed-sum")}
    assert all(c["correct"] for c in result["cases"])
    assert set(by[(1, "delayed-sum")]["runs"][0]["tasksPerNode"]) == {"node1"}
    assert sum(by[(3, "delayed-sum")]["runs"][0]["tasksPerNode"].values()) == 8


def test_map_reduce_totals_are_exact(bench):
    result = map_reduce.run(bench)
    assert result["expectedTotal"] == -sum(x * x for x in range(map_reduce.items_for("small")))
    assert all(v["correct"] for v in result["variants"])


def test_placement_spreads_tasks_over_every_node(bench):
    result = placement.run(bench)
    tasks = result["runs"][0]["tasksPerNode"]
    assert set(tasks) == {"node1", "node2", "node3"} and sum(tasks.values()) == 14
    assert all(abs(p["tasks"] - p["expectedTasks"]) <= 1 for p in result["perNode"])


def test_svd_shapes_are_balanced():
    assert svd.balanced(10, 3) == (3, 3, 2, 2)  # at most 3 each, differing by at most one
    assert svd.balanced(7, 100) == (7,)
    m, n = svd.planted_shape(256 * 2**20, 3.0)
    assert m * n * 8 >= 3 * 256 * 2**20  # the matrix is 3 × the smallest worker memory limit
    values = svd.planted_values(100, 200, 10)
    assert values == sorted(values, reverse=True) and len(values) == 10
