"""The documentation site: it builds with --strict, documents every public name and
every command, and the examples of its pages run.

``make test`` builds the site too (``make docs``); here the build goes to a temporary
directory and its pages are looked into.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import credit_check_sdk
from credit_check_sdk._cli_common import DEPRECATED_OPTIONS, JSON_KEYS
from credit_check_sdk.cli import EXIT_STATUS_1, build_parser, subcommands

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the docstring rewriter -----------------------------------------------------------


def test_roles_become_code_spans() -> None:
    to_markdown = _load("griffe_rst").to_markdown
    text = "A :class:`~credit_check_sdk.testing.FakePlatform`, :meth:`.flush` and :func:`x.y`."
    assert to_markdown(text) == "A `FakePlatform`, `flush` and `x.y`."


def test_doctest_runs_become_pycon_fences_without_directives() -> None:
    to_markdown = _load("griffe_rst").to_markdown
    text = "Intro.\n\n>>> d = f()  # doctest: +SKIP\n>>> d\n'x'\n\nAfter."
    assert to_markdown(text) == "Intro.\n\n```pycon\n>>> d = f()\n>>> d\n'x'\n```\n\nAfter."


def test_literal_blocks_become_text_fences_and_fences_stay() -> None:
    to_markdown = _load("griffe_rst").to_markdown
    text = "Run it::\n\n    credit-check sync\n    credit-check health\n\nDone."
    assert to_markdown(text) == (
        "Run it:\n\n```text\ncredit-check sync\ncredit-check health\n```\n\nDone."
    )
    fenced = "```python\n>>> not a doctest here\n```"
    assert to_markdown(fenced) == fenced


# --- the command-line page --------------------------------------------------------------


def test_every_command_has_an_exit_status_line() -> None:
    parser = build_parser()
    leaves = [
        (name, p)
        for name, p in subcommands(parser)
        if not subcommands(p) and name != "sandbox"  # the sandbox's own parser: below
    ]
    assert len(leaves) >= 15
    for name, sub in leaves:
        assert (sub.epilog or "").startswith("exit status: 0 done"), name
    assert set(EXIT_STATUS_1) <= {name for name, _ in leaves}  # no stale entries


def test_the_cli_page_shows_every_command_and_option() -> None:
    page = _load("gen_cli_page").cli_markdown()
    for name, sub in subcommands(build_parser()):
        assert f"credit-check {name}\n" in page, name
        if name == "sandbox":
            assert "--agency-id AGENCY_ID" in page
            continue
        for action in sub._actions:  # every option string of every command
            for option in action.option_strings:
                assert option in page, (name, option)
                if action.help == argparse.SUPPRESS:  # an old spelling: named with its new one
                    assert f"| `{option}` | `{DEPRECATED_OPTIONS[option]}` |" in page
    for command, meaning in EXIT_STATUS_1.items():
        assert f"| `credit-check {command}` | {meaning} |" in page
    for command, keys in JSON_KEYS.items():
        assert f"`credit-check {command} --json`" in page
        for key in keys:
            assert f"| `{key}` |" in page or key == "…", (command, key)


# --- the whole site ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def test_every_public_name_is_in_the_api_reference(site: Path) -> None:
    html = (site / "reference" / "index.html").read_text(encoding="utf-8")
    anchors = set(re.findall(r'id="(credit_check_sdk\.[^"]+)"', html))
    missing = [n for n in credit_check_sdk.__all__ if f"credit_check_sdk.{n}" not in anchors]
    assert not missing
    # Docstrings render as Markdown: examples as code, no reST role left over.
    assert ":class:`" not in html
    assert "&gt;&gt;&gt; " not in re.sub(r"<pre.*?</pre>", "", html, flags=re.S)


def _public_names(obj: object) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


@pytest.fixture(scope="module")
def checker_names(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """The public names of each checker, as an integration sees them (instance attributes
    included), and of the fake platform."""
    from credit_check_sdk.testing import FakePlatform

    out = tmp_path_factory.mktemp("checkers")
    with FakePlatform() as fake, fake.checker(out / "sync") as checker:
        names = {"CreditChecker": _public_names(checker), "FakePlatform": _public_names(fake)}
        async_checker = fake.async_checker(out / "async")
        names["AsyncCreditChecker"] = _public_names(async_checker)
        asyncio.run(async_checker.aclose())
    return names


def _listed_members(cls: str) -> list[str]:
    """The ``members:`` list of ``cls``'s block in docs/reference/index.md."""
    page = (DOCS / "reference" / "index.md").read_text(encoding="utf-8")
    block = re.search(rf"^::: credit_check_sdk\.{cls}\n(.*?)(?=^:::|\Z)", page, re.M | re.S)
    assert block is not None, cls
    listed = re.search(r"members: \[(.*?)\]", block.group(1), re.S)
    assert listed is not None, cls
    return [name.strip() for name in listed.group(1).split(",")]


@pytest.mark.parametrize("cls", ["CreditChecker", "AsyncCreditChecker"])
def test_the_reference_lists_every_public_call_of_the_checkers(
    cls: str, checker_names: dict[str, set[str]]
) -> None:
    listed = _listed_members(cls)
    assert len(listed) == len(set(listed))
    assert set(listed) == checker_names[cls]  # a call added to a checker is added here too
    assert listed[:2] == ["must_check", "must_check_many"]  # in the order a reader meets them


@pytest.mark.parametrize("cls", ["CreditChecker", "AsyncCreditChecker"])
def test_the_reference_shows_every_public_call_of_the_checkers_in_order(
    cls: str, site: Path, checker_names: dict[str, set[str]]
) -> None:
    html = (site / "reference" / "index.html").read_text(encoding="utf-8")
    shown = re.findall(rf'id="credit_check_sdk\.{cls}\.([a-z_]+)"', html)
    assert set(shown) == checker_names[cls]
    order = [shown.index(name) for name in ("must_check", "record_action", "watch", "flush")]
    assert order == sorted(order)  # as a reader meets them, the inherited ones among them
    # The calls CreditChecker inherits from its parts are rendered like its own.
    assert shown.count("file_objection") == 1


def test_the_testing_reference_shows_every_public_call_of_the_fake(
    site: Path, checker_names: dict[str, set[str]]
) -> None:
    html = _page(site, "reference/testing")
    shown = set(re.findall(r'id="credit_check_sdk\.testing\.FakePlatform\.([a-z_]+)"', html))
    assert shown == checker_names["FakePlatform"]
    # The fault calls are kept in a part it inherits (credit_check_sdk._fake_faults).
    assert {"fail", "delay", "drip", "reset", "malformed", "outage", "reset_faults"} <= shown


def test_the_site_has_every_page(site: Path) -> None:
    for page in (
        "getting-started",
        "concepts",
        "decision-rules",
        "cli",
        "testing",
        "logging",
        "operations",
        "benchmarks",
        "platform-contract",
        "platform-api",
        "reference/testing",
        "reference/sandbox",
    ):
        assert (site / page / "index.html").is_file(), page
    assert "credit-check snapshot download" in _page(site, "cli")
    assert "/v1/catalog" in _page(site, "platform-api")  # the OpenAPI text itself


def test_the_concepts_page_explains_the_plans_terms(site: Path) -> None:
    html = _page(site, "concepts")
    for term in (
        "应查必查",
        "红名单",
        "黑名单",
        "联合奖惩",
        "容缺受理",
        "绿色通道",
        "双公示",
        "实施情况反馈",
        "信用修复",
        "异议",
        "措施清单",
        "失信被执行人",
    ):
        assert term in html, term


def test_the_docs_keep_their_own_copy_of_the_contract() -> None:
    # Nothing in the site reads the shared working files: the project's docs/ is the copy.
    for path in [ROOT / "mkdocs.yml", *DOCS.rglob("*")]:
        if path.is_file() and path.suffix in (".md", ".yml", ".yaml", ".py"):
            assert "shared/" not in path.read_text(encoding="utf-8"), path


# --- docs/testing.md ------------------------------------------------------------------------

TESTING_PAGE = (DOCS / "testing.md").read_text(encoding="utf-8")
_PYTHON = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CREDIT_CHECK_"))}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_testing_page_examples_run(tmp_path: Path) -> None:
    fake, fixtures, async_fixtures, sandbox = _PYTHON.findall(TESTING_PAGE)
    done = _run([sys.executable, "-c", fake], tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "test_page.py").write_text(fixtures, encoding="utf-8")
    (tmp_path / "test_page_async.py").write_text(async_fixtures, encoding="utf-8")
    done = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    if importlib.util.find_spec("fastapi") is not None:  # the sandbox extra
        done = _run([sys.executable, "-c", sandbox], tmp_path)
        assert done.returncode == 0, done.stderr


def test_the_testing_page_lists_every_scenario_subject() -> None:
    pytest.importorskip("sqlalchemy", reason="the sandbox extra is not installed")
    from credit_check_sandbox.seed import SCENARIO_SUBJECTS

    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \|", TESTING_PAGE, re.M)
    assert rows == [(key, s.id) for key, s in SCENARIO_SUBJECTS.items()]
