"""The version report's parsing: names as locks write them, os-release with shell quoting."""

from dask_vm_runtime import versions


def test_normalize_name_is_pep_503():
    assert versions.normalize_name("PyYAML") == "pyyaml"
    assert versions.normalize_name("zope.interface") == "zope-interface"
    assert versions.normalize_name("typing__extensions") == "typing-extensions"


def test_parse_os_release_unquotes_values_and_skips_comments():
    text = '# comment\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nBROKEN="unclosed\n'
    parsed = versions.parse_os_release(text)
    assert parsed["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert parsed["ID"] == "debian"
    assert parsed["VERSION_ID"] == "12"
    assert parsed["BROKEN"] == "unclosed"


def test_collect_reports_this_interpreter_and_its_distributions(tmp_path):
    (tmp_path / "bundle-id").write_text("0123456789abcdef\n")
    report = versions.collect(tmp_path)
    assert report["bundle_id"] == "0123456789abcdef"
    assert report["python"]["version_info"].count(".") == 2
    assert "dask" in report["distributions"] and "distributed" in report["distributions"]
    assert set(report["os_release"]) == {"ID", "VERSION_ID", "PRETTY_NAME"}


def test_collect_without_a_bundle_says_none(tmp_path):
    assert versions.collect(tmp_path)["bundle_id"] is None
