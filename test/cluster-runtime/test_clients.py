"""The rule that decides whether a client may use the cluster, and the scheduler preload
that enforces it (strict_clients.py), on version reports shaped as distributed sends them;
and the notebooks' SVG chart. The real refusal, by a real scheduler, of a real client with
another distributed: test/user-work.local.test.ts."""

from __future__ import annotations

import xml.dom.minidom

import distributed.versions as versions
import pytest

from dask_vm_runtime import charts, client_check, strict_clients


def report(**packages: str | None) -> dict:
    base = {
        "python": "3.11.7.final.0",
        "dask": "2026.8.0",
        "distributed": "2026.8.0",
        "msgpack": "1.2.4",
        "cloudpickle": "3.1.2",
        "tornado": "6.6.1",
        "toolz": "1.2.0",
        "numpy": "2.4.6",
        "pandas": None,
        "lz4": None,
    }
    return {"host": {}, "packages": {**base, **packages}}


WORKERS = {"tls://192.168.56.12:8788": report(), "tls://192.168.56.13:8788": report()}


def test_a_client_like_the_workers_passes_even_on_another_python_patch_level():
    assert (
        client_check.client_mismatches(
            {"client": report(python="3.11.9.final.0"), "scheduler": report(), "workers": WORKERS}
        )
        == []
    )


def test_another_distributed_or_python_minor_is_named_with_both_versions():
    found = client_check.client_mismatches(
        {"client": report(distributed="2026.7.1", python="3.12.1.final.0"), "scheduler": report(), "workers": WORKERS}
    )
    assert [m["package"] for m in found] == ["distributed", "python"]
    text = client_check.describe(found)
    assert "distributed: this client has 2026.7.1, the cluster has 2026.8.0" in text
    assert "python: this client has 3.12, the cluster has 3.11" in text


def test_a_package_the_workers_lack_counts_as_a_difference():
    found = client_check.client_mismatches(
        {"client": report(pandas="2.3.0"), "scheduler": report(), "workers": WORKERS}
    )
    assert [(m["package"], m["client"]) for m in found] == [("pandas", "2.3.0")]


@pytest.fixture()
def strict():
    strict_clients.dask_setup(scheduler=None)
    yield strict_clients.strict_error_message
    versions.error_message = strict_clients._original


def test_the_scheduler_refuses_a_differing_client_by_name(strict):
    out = versions.error_message(report(), WORKERS, report(distributed="2026.7.1"))
    assert out["error"].startswith("this Dask client is refused by the cluster")
    assert "distributed: this client has 2026.7.1, the cluster has 2026.8.0" in out["error"]
    assert "npm run submit" in out["error"]
    assert "Mismatched versions" in out["warning"]


def test_the_scheduler_lets_in_a_matching_client_the_diagnostic_client_and_every_worker(strict):
    assert versions.error_message(report(), WORKERS, report())["error"] == ""
    diagnostic = report(distributed="2026.7.1")
    diagnostic["packages"][strict_clients.DIAGNOSTIC] = "1"
    assert versions.error_message(report(), WORKERS, diagnostic)["error"] == ""
    assert (
        versions.error_message(
            report(), WORKERS, report(distributed="2026.7.1"), source_name="tls://192.168.56.14:8788"
        )["error"]
        == ""
    )


def test_a_chart_is_valid_svg_with_every_series_and_label():
    svg = charts.line_chart(
        {"measured": [(1, 8.1), (2, 4.2), (3, 3.1)], "ideal": [(1, 8), (2, 4), (3, 3)]},
        title="8 x inc",
        x_label="nodes",
        y_label="seconds",
    )
    doc = xml.dom.minidom.parseString(svg)
    assert doc.documentElement.tagName == "svg"
    assert len(doc.getElementsByTagName("path")) == 2
    assert len(doc.getElementsByTagName("circle")) == 6
    texts = [t.firstChild.data for t in doc.getElementsByTagName("text") if t.firstChild]
    assert {"8 x inc", "nodes", "seconds", "measured", "ideal"} <= set(texts)
    with pytest.raises(ValueError):
        charts.line_chart({}, title="", x_label="", y_label="")
