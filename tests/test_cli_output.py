"""What every ``credit-check`` command prints, run as the installed executable.

With ``--json``: one JSON document on stdout with the keys the command-line page
documents (``JSON_KEYS``). Without: tables at 80 columns that keep every id a user
copies whole, and no Python repr (``None``, ``{'…'}``) anywhere.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from credit_check_sdk._cli_common import JSON_KEYS
from credit_check_sdk.cli import build_parser, subcommands
from credit_check_sdk.testing import FakePlatform
from tests.support.clirun import base_env, credit_check, platform_env

DEFAULTER = "91442000MA4UJ2KQ57"
GRADE_A = "91442000MA4X00012M"
CLEAN = "91442000MA4UC00019"
PERSON = "442000199001011233"
PERSON_MASKED = "4420**********1233"
#: Lines of a table (rich's box characters), which must fit the terminal.
_TABLE_LINE = re.compile(r"^[┏┃┡│├└┗┣╭╰┌]")
_REPR = re.compile(r"\bNone\b|\{'|\['|\bTrue\b|\bFalse\b")


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.add_entry(
            DEFAULTER, "black", "court_judgment_defaulter", entry_id="BL-2026-000042"
        )
        platform.add_entry(GRADE_A, "red", "tax_credit_a")
        platform.serve()
        yield platform


class Tour:
    """Runs commands one after another on one data folder, keeping what they printed."""

    def __init__(self, fake: FakePlatform, tmp_path: Path, *, json_mode: bool) -> None:
        self.fake = fake
        self.tmp_path = tmp_path
        self.json_mode = json_mode
        self.env = platform_env(fake, tmp_path / "data", columns=80)
        self.outputs: dict[str, subprocess.CompletedProcess[str]] = {}

    def run(self, name: str, *args: str, ok: tuple[int, ...] = (0,), **kw: Any) -> str:
        flags = ["--json"] if self.json_mode else []
        done = credit_check(*args, *flags, env=kw.pop("env", self.env), **kw)
        assert done.returncode in ok, (name, done.returncode, done.stdout[-3000:], done.stderr)
        assert "Traceback" not in done.stderr, (name, done.stderr)
        self.outputs[name] = done
        return done.stdout

    def everything(self) -> None:
        ids = self.tmp_path / "ids.txt"
        ids.write_text(f"{DEFAULTER}\n{GRADE_A}\n{PERSON}\nnot-an-id\n{CLEAN}\n")
        rows = self.tmp_path / "rows.csv"
        rows.write_text(f"统一社会信用代码,名称\n{DEFAULTER},恒达\n{PERSON},梁某\n")
        export = self.tmp_path / "usb" / "lists.ndjson.gz"
        export.parent.mkdir()
        self.run("check", "check", DEFAULTER, "bidding")
        self.run("check-many", "check-many", str(ids), "--matter", "bidding", ok=(1,))
        check_id = next(
            r["id"]
            for r in self.fake.records.values()
            if r.get("type") == "check" and r["subject"]["id"] == DEFAULTER
        )
        self.check_id = check_id
        self.run("action", "action", check_id, "not_applied", "--reason", "投标已撤回")
        self.run("flush", "flush")
        self.run("catalog", "catalog")
        self.run("sync", "sync")
        self.run("snapshot status", "snapshot", "status")
        self.run("snapshot download", "snapshot", "download", str(export))
        offline = base_env(80, CREDIT_CHECK_DATA_DIR=str(self.tmp_path / "airgapped"))
        self.run("snapshot import", "snapshot", "import", str(export), env=offline)
        self.run("health", "health")
        self.run("journal verify", "journal", "verify", "--columns")
        self.run("journal stats", "journal", "stats")
        self.run("journal explain", "journal", "explain", check_id)
        self.run("journal pending-actions", "journal", "pending-actions", "--days", "0")
        self.run("disclosures pending", "disclosures", "pending")
        self.run(
            "objection file", "objection", "file", check_id, "BL-2026-000042",
            "--reason", "已履行", "--by", "u123",
        )  # fmt: skip
        (objection_id,) = self.fake.objections
        self.objection_id = objection_id
        self.run("objection status", "objection", "status", objection_id)
        self.run("report", "report", f"{self._period()}", "--agency-id", "zs-fgj")
        self.run("screen", "screen", str(rows), "--matter", "bidding")
        assert gzip.decompress(export.read_bytes())

    def _period(self) -> str:
        from credit_check_sdk._time import today

        return f"{today():%Y-%m}"


def _json_commands() -> set[str]:
    """Every command whose parser has --json (report's takes an optional file)."""
    found = set()
    for name, parser in subcommands(build_parser()):
        if any("--json" in a.option_strings for a in parser._actions):
            found.add(name)
    return found


def test_every_data_command_has_json_and_a_documented_key_list() -> None:
    assert _json_commands() == set(JSON_KEYS)
    plain = {n for n, p in subcommands(build_parser()) if not subcommands(p)} - set(JSON_KEYS)
    # journal export writes its own formats (--format jsonl|csv); sandbox serves;
    # storage import says in one line what it copied (a one-off move to a database).
    assert plain == {"journal export", "sandbox", "storage import"}


def test_every_command_prints_one_json_document_with_its_documented_keys(
    fake: FakePlatform, tmp_path: Path
) -> None:
    tour = Tour(fake, tmp_path, json_mode=True)
    tour.everything()
    assert set(tour.outputs) == set(JSON_KEYS)
    for name, done in tour.outputs.items():
        doc = json.loads(done.stdout)  # the whole of stdout is one document
        assert isinstance(doc, dict), name
        documented = set(JSON_KEYS[name]) - {"…"}
        if "…" in JSON_KEYS[name]:
            assert documented <= set(doc), (name, sorted(documented - set(doc)))
        else:
            assert set(doc) == documented, (name, sorted(set(doc) ^ documented))
        assert PERSON not in done.stdout + done.stderr, name
        assert "None" not in json.dumps(doc, ensure_ascii=False), name  # null, never "None"
    docs = {name: json.loads(done.stdout) for name, done in tour.outputs.items()}
    assert docs["check"]["upload"] == {"state": "accepted", "detail": None}
    assert docs["check-many"]["summary"] == {"restriction": 1, "normal": 3}
    assert [i["line"] for i in docs["check-many"]["invalid"]] == [4]
    assert docs["action"]["action"] == "not_applied"
    assert docs["flush"] == {
        "pending": 0,
        "uploads": {"pending": 0, "accepted": 6, "duplicate": 0, "rejected": 0},
    }
    assert docs["health"]["snapshot"]["path"] is not None
    assert docs["journal verify"]["ok"] is True
    assert docs["journal explain"]["matches"] is True
    waiting = [c["check_id"] for c in docs["journal pending-actions"]["checks"]]
    assert waiting  # the checks with measures and no action yet …
    assert tour.check_id not in waiting  # … and not the one whose action was recorded
    assert docs["objection status"] == {
        "objection_id": tour.objection_id,
        "status": "verifying",
        "updated_locally": True,
    }
    assert docs["report"]["agency_id"] == "zs-fgj"
    assert docs["snapshot import"]["entries"] == 2  # the two entries the fake lists


def test_health_before_any_snapshot_says_null_not_none(fake: FakePlatform, tmp_path: Path) -> None:
    env = platform_env(fake, tmp_path / "data")
    done = credit_check("health", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert '"None"' not in done.stdout
    human = credit_check("health", env=env)
    assert human.returncode == 0, human.stderr
    assert not _REPR.search(human.stdout), human.stdout
    assert "platform answers" in human.stdout
    assert "circuit breaker" in human.stdout


def test_human_output_fits_80_columns_keeps_ids_whole_and_has_no_reprs(
    fake: FakePlatform, tmp_path: Path
) -> None:
    tour = Tour(fake, tmp_path, json_mode=False)
    tour.everything()
    for name, done in tour.outputs.items():
        text = done.stdout + done.stderr
        assert not _REPR.search(text), (name, _REPR.search(text), text[-2000:])
        assert PERSON not in text, name
        for line in done.stdout.splitlines():
            if _TABLE_LINE.match(line):
                assert cell_len(line) <= 80, (name, line)
    out = {name: done.stdout for name, done in tour.outputs.items()}
    check_ids = [r["id"] for r in fake.records.values() if r.get("type") == "check"]
    many_ids = [i for i in check_ids if i in out["check-many"]]
    assert len(many_ids) == 4  # every check id of check-many, whole, on one line
    assert tour.check_id in out["check"]
    assert PERSON_MASKED in out["check-many"]
    catalog = json.loads(credit_check("catalog", "--json", env=tour.env).stdout)
    for measure in catalog["measures"]:
        assert measure["id"] in out["catalog"], measure["id"]  # never "P-BID-EXC…"
    assert "BL-2026-000042" in out["journal explain"]
    assert "P-BID-EXCLUDE" in out["journal explain"]
    assert "every record is uploaded" in out["flush"]
    assert "│ accepted  │       6 │" in out["flush"]


def test_pending_actions_keep_check_ids_whole_at_80_columns(
    fake: FakePlatform, tmp_path: Path
) -> None:
    env = platform_env(fake, tmp_path / "data", columns=80)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{DEFAULTER}\n{DEFAULTER}\n{DEFAULTER}\n")
    assert credit_check("check-many", str(ids), "--matter", "procurement", env=env).returncode == 0
    done = credit_check("journal", "pending-actions", "--days", "0", env=env)
    assert done.returncode == 0, done.stderr
    for check_id in fake.records:
        assert check_id in done.stdout
    assert done.stdout.count(DEFAULTER) == 3
    assert done.stdout.count("P-BID-EXCLUDE") == 3
    for line in done.stdout.splitlines():
        if _TABLE_LINE.match(line):
            assert cell_len(line) <= 80, line


def test_a_terminal_narrower_than_an_id_folds_it_rather_than_cutting_it(
    fake: FakePlatform, tmp_path: Path
) -> None:
    env = platform_env(fake, tmp_path / "data", columns=40)
    done = credit_check("check", DEFAULTER, "bidding", env=env)
    assert done.returncode == 0, done.stderr
    (check_id,) = fake.records
    cells = "".join(
        line.split("│")[1].strip() for line in done.stdout.splitlines() if line.startswith("│")
    )
    assert check_id in cells  # folded onto the next lines, every character there
    assert "…" not in done.stdout.split("•")[0]
