"""docs/getting-started.md, followed to the letter by a new user's shell.

The page's fenced blocks are read in order and acted on, in a fresh directory:

- ```` ```sh ```` runs in bash, each line a command, with every ``export`` seen so
  far in effect (one terminal, as on the page). ``credit-check sandbox …`` is the
  page's long-running server: started in the background until the end, its output
  being what it prints up to ``SANDBOX_READY``. A block must exit 0, or the status
  an ``<!-- exit status N -->`` comment just before it names. A block after an
  ``<!-- not run: why -->`` comment is not run (installing from the network).
- ```` ```python title="NAME.py" ```` is saved as NAME.py for a later command.
- ```` ```text ```` is the output of the last block run: its lines must appear, in
  order and next to each other, in what the commands printed; a ``…`` line stands
  for any number of lines, a ``…`` inside a line for any text.

The one liberty taken: the page's port 8700 is replaced by a free port, so that the
test never collides with anything else listening on the machine.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the page starts the sandbox (extra: sandbox)")

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "getting-started.md"
PAGE_PORT = "8700"
BASH = shutil.which("bash") or "/bin/bash"

_FENCE = re.compile(
    r"(?:<!-- (?P<note>[^>]*?) -->\n)?^```(?P<lang>\w+)(?P<info>[^\n]*)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


@dataclass
class Block:
    lang: str
    title: str | None
    note: str | None
    body: str


def page_blocks(text: str) -> list[Block]:
    blocks = []
    for m in _FENCE.finditer(text):
        title = re.search(r'title="([^"]+)"', m["info"])
        blocks.append(Block(m["lang"], title and title[1], m["note"], m["body"]))
    return blocks


def output_matches(shown: str, actual: str) -> bool:
    """``shown``'s lines in order and adjacent in ``actual`` (``…``: a gap or any text)."""
    lines = [line.rstrip() for line in actual.splitlines()]
    pattern = ""
    for want in shown.rstrip("\n").splitlines():
        if want.strip() == "…":
            pattern += r"(?:[^\n]*\n)*?"
        else:
            parts = (re.escape(part) for part in want.rstrip().split("…"))
            pattern += "[^\\n]*".join(parts) + r"\n"
    return re.search(r"(?:^|\n)" + pattern, "\n".join(lines) + "\n") is not None


def test_output_matching_follows_the_page_rules() -> None:
    actual = "a\nb 123 c\nd\ne\n"
    assert output_matches("a\nb … c\n", actual)
    assert output_matches("…\nd\ne\n", actual)
    assert output_matches("a\n…\ne\n", actual)
    assert not output_matches("a\nd\n", actual)  # not next to each other
    assert not output_matches("e\na\n", actual)  # not in order
    assert not output_matches("b 999 c\n", actual)


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


class Shell:
    """One user's terminal: a working directory, exported variables, a background server."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.exports: list[str] = []
        self.server: subprocess.Popen[str] | None = None
        bindir = str(Path(sys.executable).parent)  # where credit-check and python live
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CREDIT_CHECK_", "PYTEST_", "COV_"))
        }
        self.env.update(PATH=f"{bindir}{os.pathsep}{self.env.get('PATH', '')}", COLUMNS="100")

    def run(self, body: str, expect_status: int) -> str:
        commands = [line for line in body.splitlines() if line.strip()]
        if commands[0].startswith("credit-check sandbox"):
            assert len(commands) == 1, "the sandbox block holds the server command alone"
            return self.start_server(commands[0])
        script = "\n".join(["set -e", *self.exports, *commands])
        done = subprocess.run(
            [BASH, "-c", script], cwd=self.workdir, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == expect_status, f"{body}\n---\n{done.stdout}"
        self.exports += [c for c in commands if c.startswith("export ")]
        return done.stdout

    def start_server(self, command: str) -> str:
        assert self.server is None
        self.server = subprocess.Popen(
            shlex.split(command), cwd=self.workdir, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert self.server is not None
            assert self.server.stdout is not None
            for line in self.server.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        shown = ""
        while "SANDBOX_READY" not in shown:
            line = lines.get(timeout=120)
            assert line is not None, f"the sandbox exited: {shown}"
            shown += line
        return shown

    def close(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=30)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    terminal = Shell(tmp_path)
    try:
        yield terminal
    finally:
        terminal.close()


def test_the_page_runs_as_written(shell: Shell) -> None:
    port = _free_port()
    blocks = page_blocks(PAGE.read_text(encoding="utf-8").replace(PAGE_PORT, port))
    ran, compared, output = 0, 0, None
    for block in blocks:
        if block.note and block.note.startswith("not run:"):
            continue
        if block.lang == "python":
            assert block.title, f"a Python block names its file: {block.body[:60]}"
            (shell.workdir / block.title).write_text(block.body, encoding="utf-8")
        elif block.lang == "sh":
            status = re.fullmatch(r"exit status (\d+)", block.note or "")
            output = shell.run(block.body, int(status[1]) if status else 0)
            ran += 1
        elif block.lang == "text":
            assert output is not None, "an output block follows a command"
            assert output_matches(block.body, output), f"shown:\n{block.body}\nprinted:\n{output}"
            compared += 1
            output = None
    assert ran >= 7
    assert compared == 9  # every command's output on the page was checked


def test_the_install_block_names_extras_that_exist() -> None:
    from importlib.metadata import metadata

    page = PAGE.read_text(encoding="utf-8")
    [install] = [b for b in page_blocks(page) if "pip install" in b.body]
    assert install.note == "not run: installs packages from the network"
    extras = set(metadata("credit-check-sdk").get_all("Provides-Extra") or [])
    for wanted in re.findall(r"credit-check-sdk\[([\w,]+)\]", install.body):
        assert set(wanted.split(",")) <= extras
