"""What the built distributions carry: the licence, the type marker, the changelog.

The wheel and the sdist are built with hatchling (the project's build backend) into a
temporary directory, as ``pip wheel`` or a release job would.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from credit_check_sdk._version import __version__

ROOT = Path(__file__).resolve().parent.parent

_BUILD = """
import sys
from hatchling.build import build_sdist, build_wheel

out = sys.argv[1]
print(build_wheel(out))
print(build_sdist(out))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    wheel_name, sdist_name = done.stdout.split()
    return out / wheel_name, out / sdist_name


def test_the_repository_has_the_apache_licence() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the full text, not a pointer to it


def test_the_wheel_carries_the_licence_and_the_type_marker(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = f"credit_check_sdk-{__version__}.dist-info"
        assert f"{dist_info}/licenses/LICENSE" in names
        assert zf.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        assert "credit_check_sdk/py.typed" in names
        assert "credit_check_sdk/data/catalog.json" in names
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    assert "credit_check_sdk = credit_check_sdk.pytest_plugin" in entry_points
    # Only the library: no tests, docs or examples in what an agency installs.
    assert not [n for n in names if n.split("/")[0] in ("tests", "docs", "examples", "plugins")]


def test_the_sdist_carries_the_licence_and_the_changelog(built: tuple[Path, Path]) -> None:
    _, sdist = built
    with tarfile.open(sdist) as tf:
        names = {name.split("/", 1)[1] for name in tf.getnames() if "/" in name}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml"} <= names
    assert "credit_check_sdk/py.typed" in names
    assert "docs/platform-contract.md" in names


def test_the_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "https://keepachangelog.com/en/1.1.0/" in text
    headings = re.findall(r"^## \[([^\]]+)\]", text, flags=re.MULTILINE)
    assert headings[0] == "Unreleased"
    # A released version carries its date; the one in _version.py is either released or next.
    for heading in re.findall(r"^## \[(\d[^\]]*)\] - (\S+)", text, flags=re.MULTILINE):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", heading[1]), heading
    assert __version__ in text
