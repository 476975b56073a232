"""The version report of one node: what the version gate collects from every node and
compares with the lock and across nodes (full Python version, OS release, bundle id and
every distribution installed in the interpreter that runs this)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shlex
import sys
from pathlib import Path
from typing import Any

OS_RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release")
OS_RELEASE_KEYS = ("ID", "VERSION_ID", "PRETTY_NAME")


def normalize_name(name: str) -> str:
    """PEP 503 normalisation, the form pip and uv write into locks (PyYAML -> pyyaml)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_os_release(text: str) -> dict[str, str]:
    """Parses os-release(5): KEY=value lines whose values use shell quoting."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw)
        except ValueError:
            words = [raw.strip("\"'")]
        result[key.strip()] = words[0] if words else ""
    return result


def os_release() -> dict[str, str | None]:
    for candidate in OS_RELEASE_FILES:
        try:
            fields = parse_os_release(Path(candidate).read_text(encoding="utf-8"))
        except OSError:
            continue
        return {key: fields.get(key) for key in OS_RELEASE_KEYS}
    return {key: None for key in OS_RELEASE_KEYS}


def distributions() -> dict[str, str]:
    """Every distribution importlib.metadata sees, by normalised name. Where one name is
    installed twice on sys.path, the first wins, as it does for imports."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        found.setdefault(normalize_name(name), dist.version)
    return dict(sorted(found.items()))


def read_bundle_id(root: Path | None) -> str | None:
    if root is None:
        return None
    try:
        return (root / "bundle-id").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def collect(root: Path | None) -> dict[str, Any]:
    uname = platform.uname()
    return {
        "python": {
            "version": sys.version,
            "version_info": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "prefix": sys.prefix,
        },
        "platform": {"machine": uname.machine, "system": uname.system, "release": uname.release},
        "os_release": os_release(),
        "bundle_id": read_bundle_id(root),
        "distributions": distributions(),
    }


def default_root() -> Path | None:
    """ROOT is the folder that holds the venv this interpreter runs from (ROOT/venv or
    ROOT/venv-<id>); outside a venv there is no default."""
    if sys.prefix == sys.base_prefix:
        return None
    return Path(os.path.abspath(sys.prefix)).parent
