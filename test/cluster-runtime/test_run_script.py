"""Which of a submitted folder's modules go to the scheduler and the workers."""

from pathlib import Path

from dask_vm_runtime import run_script


def test_a_folders_own_modules_are_named_but_not_the_script(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("")
    (tmp_path / "helpers.py").write_text("")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "maths.py").write_text("")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("")
    (tmp_path / "not-a-name.py").write_text("")
    assert run_script.module_names(tmp_path, tmp_path / "job.py") == ["helpers", "lib"]


def test_names_the_cluster_already_has_are_kept_off_the_scheduler() -> None:
    taken = run_script.installed_names()
    assert {"random", "queue", "dask", "distributed", "numpy", "dask_vm_runtime"} <= taken
    ship, clash = run_script.shippable(["helpers", "random", "dask", "lib"], taken)
    assert ship == ["helpers", "lib"]
    assert clash == ["random", "dask"]
