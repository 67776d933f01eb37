"""What start-up must not import: ``from credit_check_sdk import CreditChecker`` and
``credit-check --help`` leave the network stack, the retry library, the report and
the command line's own dependencies to the calls that use them.

Each case runs in a fresh interpreter (``-I``: no user site, no current folder) and
compares its ``sys.modules`` with a bare interpreter's, so that what Python itself
loads at start-up (``site``, ``.pth`` files) is not counted. The lists name what is
slow to import and not needed to import or construct a checker; a module added
here later is caught the day an import of it creeps back to module level.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_LOADED = "import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))\n"

#: Imported when a checker is made (the transport's session, the retries), when a
#: 401 is read (``email``, for its ``Date``), when plugins are discovered
#: (``importlib.metadata``), or by the command line, the report and the async checker.
NOT_FOR_THE_CHECKER = (
    "requests",
    "urllib3",
    "charset_normalizer",
    "idna",
    "certifi",
    "httpx",
    "anyio",
    "tenacity",
    "email",
    "importlib.metadata",
    "rich",
    "openpyxl",
    "matplotlib",
    "psycopg",
    "credit_check_sdk.cli",
    "credit_check_sdk.report",
    "credit_check_sdk.storage.postgres",
    "credit_check_sdk.testing",
    "credit_check_sdk._async_checker",
)

#: ``credit-check --help`` parses no settings and opens nothing: no pydantic, no
#: checker, no storage (the commands import them when they run).
NOT_FOR_HELP = (
    "pydantic",
    "requests",
    "tenacity",
    "sqlite3",
    "credit_check_sdk._checker",
    "credit_check_sdk._config",
    "credit_check_sdk._models",
    "credit_check_sdk.storage",
    "credit_check_sdk.report",
)

_HELP = (
    "import contextlib, io\n"
    "from credit_check_sdk.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
    "    main(['--help'])\n"
)


def _loaded_by(statement: str) -> set[str]:
    def run(code: str) -> set[str]:
        out = subprocess.run(
            [sys.executable, "-I", "-c", _LOADED.format(statement=code)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return set(json.loads(out.stdout.splitlines()[-1]))

    return run(statement) - run("pass")


def _found(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in names))


def test_importing_the_checker_leaves_the_network_stack_and_the_cli_unloaded() -> None:
    loaded = _loaded_by("from credit_check_sdk import CreditChecker")
    assert "credit_check_sdk._checker" in loaded  # the import did happen
    assert _found(loaded, NOT_FOR_THE_CHECKER) == []


def test_the_package_alone_imports_no_pydantic_and_no_checker() -> None:
    loaded = _loaded_by("import credit_check_sdk")
    assert _found(loaded, ("pydantic", "credit_check_sdk._checker", *NOT_FOR_THE_CHECKER)) == []


def test_command_line_help_imports_neither_the_checker_nor_pydantic() -> None:
    loaded = _loaded_by(_HELP)
    assert "credit_check_sdk._cli_check" in loaded  # every command was registered
    assert _found(loaded, NOT_FOR_HELP) == []


@pytest.mark.parametrize("statement", ["from credit_check_sdk import CreditChecker", _HELP])
def test_the_lists_would_catch_an_eager_import(statement: str) -> None:
    # The same comparison sees a slow module once something imports it at start-up.
    loaded = _loaded_by("import tenacity, requests, pydantic\n" + statement)
    assert {"tenacity", "requests"} <= set(_found(loaded, NOT_FOR_THE_CHECKER))
    assert "pydantic" in _found(loaded, NOT_FOR_HELP)
