"""``make demo``'s scenario runs end to end against a real sandbox process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.sandbox
def test_the_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = done.stdout
    headings = [
        "1. Bidding round",
        "2. Licence application",
        "3. Licence disclosed",
        "4. Subsidy application",
        "5. Honours",
        "6. Objection",
        "7. Platform outage",
        "8. Journal",
    ]
    places = [text.index(h) for h in headings]  # each shown, in this order
    assert places == sorted(places)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["remaining"] == 0
    assert summary["disclosure"]["state"] == "on_time"
    assert summary["disclosure"]["published_on"] is not None
    assert summary["disclosures_received"] == 1
    assert "中市监许〔2026〕42号" in text
    assert summary["chain_ok"] is True
    assert summary["rechecks_changed"] == 1
    assert summary["platform_count"] == summary["stats"]["accepted"] > 10
    assert (out / "sdk" / "journal.sqlite3").exists()
    assert (out / "sandbox.sqlite3").exists()
    # The demo's outcomes, as a city official would read them.
    assert "excluded from the tender" in text
    assert "credit points" in text
    assert "tolerance" in text
    assert "suspended" in text
    # During the outage, step 4's applicant is still restricted through its legal
    # representative, from a profile fetched minutes before: a fresh cached profile,
    # neither degraded nor re-checked. The two decided from the snapshot are degraded,
    # queued and re-checked live once the platform is back; each row says so.
    outage = text[text.index("7. Platform outage") : text.index("8. Journal")]
    assert "P-SUB-RESTRICT" in outage
    flat = " ".join(outage.split())
    assert "legal representative 4420**********" in flat
    rows = summary["outage"]
    assert [(r["source"], r["degraded"], r["queued"], r["rechecked"]) for r in rows] == [
        ("snapshot", True, True, True),
        ("snapshot", True, True, True),
        ("cache", False, False, False),
    ]
    # (the demo's console is 120 columns wide: these phrases stay on one line of a cell)
    assert flat.count("re-checked live when the platform") == 2
    assert flat.count("snapshot of the lists: degraded;") == 2
    assert "fresh cache: a profile fetched" in flat
    assert "stale cache" not in flat
    assert "platform back: 2 of 2 degraded decisions re-checked live" in flat
    # Each row's reasons come under its note number, after the table.
    for n, row in enumerate(rows, start=1):
        assert f"[{n}] {row['name']}" in flat  # the row, marked …
        assert f"[{n}] {row['name']}: why" in flat  # … and its reasons, named
    cache_row = rows[2]["name"]
    why_cache = flat[flat.index(f"[3] {cache_row}: why") :]
    assert "P-SUB-RESTRICT" in why_cache.split("platform back")[0]
    # A person barred from an honour through her seriously dishonest company (§三(二)), a
    # trustworthy company put first, a director left to a person; persons' ids masked.
    honours = " ".join(text[text.index("5. Honours") : text.index("6. Objection")].split())
    assert "P-HON-EXCLUDE-PERSON" in honours
    assert "barred / 取消评先评优资格" in honours
    assert "其担任高级管理人员的单位 91442000MA4UC0110W" in honours
    assert "优先推荐" in honours
    assert "I-HON-PRIORITY [applied]" in honours
    assert "to a person" in honours
    assert "442000199008233023" not in text
    assert "4420**********3023" in honours
    assert "[1] " in honours  # the barred nominee's row carries the note of its reasons
