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


def _build(project: Path, out: Path) -> tuple[Path, Path]:
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(out)],
        cwd=project, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    wheel_name, sdist_name = done.stdout.split()
    return out / wheel_name, out / sdist_name


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _build(ROOT, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def built_sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _build(ROOT / "sandbox", tmp_path_factory.mktemp("dist-sandbox"))


#: What only a server needs: none of it may be imported by the client library.
_SERVER_PACKAGES = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "httptools")


def test_the_core_wheel_holds_no_server_code(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    imports = re.compile(rf"^\s*(?:from|import)\s+({'|'.join(_SERVER_PACKAGES)})\b", re.M)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        sources = {n: zf.read(n).decode() for n in names if n.endswith(".py")}
        dist_info = f"credit_check_sdk-{__version__}.dist-info"
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    assert not [n for n in names if "sandbox" in n.split("/")[1:-1]], "a sandbox folder"
    assert not {n: imports.findall(t) for n, t in sources.items() if imports.search(t)}
    assert "credit-check-sandbox" not in entry_points  # the sandbox's own distribution has it
    # The extra pulls in the sandbox distribution of the same version, nothing else.
    sandbox_requires = [
        line
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "sandbox" in line
    ]
    assert sandbox_requires == [
        f"Requires-Dist: credit-check-sandbox=={__version__}; extra == 'sandbox'"
    ]


def test_the_sandbox_is_its_own_distribution_of_the_same_version(
    built_sandbox: tuple[Path, Path],
) -> None:
    wheel, _ = built_sandbox
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = f"credit_check_sandbox-{__version__}.dist-info"
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    assert {"credit_check_sandbox/py.typed", "credit_check_sandbox/app.py"} <= names
    assert not [n for n in names if n.startswith("credit_check_sdk/")]
    assert f"Requires-Dist: credit-check-sdk=={__version__}" in metadata.splitlines()
    assert "credit-check-sandbox = credit_check_sandbox.cli:main" in entry_points


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
