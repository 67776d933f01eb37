"""双公示 through the checker: ``disclose()`` checks its input, keeps the disclosure on disk
before it returns, and the background uploader posts it to ``POST /v1/disclosures`` —
against FakePlatform and the sandbox (one platform core), across an outage and a crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk import (
    ArgumentTypeError,
    CreditChecker,
    InvalidArgumentError,
    InvalidRequestError,
    InvalidSubjectError,
)
from credit_check_sdk._disclosures import disclosure_id_for
from credit_check_sdk._time import today
from credit_check_sdk.storage import open_storage
from credit_check_sdk.testing import FakePlatform
from credit_check_sdk.workdays import add_working_days

ORG = "91442000MA4UJ2KQ57"
OTHER = "91442000MA4UC00019"
LONG_AGO = date(2026, 1, 5)  # its 7 working days ended on 2026-01-14


def _disclose(checker: CreditChecker, number: str = "中市监许〔2026〕1号", **over: Any) -> Any:
    args: dict[str, Any] = {
        "kind": "licensing",
        "subject": ORG,
        "decision_no": number,
        "decided_on": today(),
        "title": "食品经营许可证核发",
        "content": {"scope": "餐饮服务", "valid_until": "2031-12-31"},
    }
    args.update(over)
    return checker.disclose(**args)


def test_a_disclosure_reaches_the_platform_on_time(tmp_path: Path) -> None:
    fake = FakePlatform()
    with fake.checker(tmp_path) as checker:
        decision = checker.must_check(ORG, "licensing")
        duty = _disclose(checker, check_id=decision.check_id)
        assert duty.kind == "licence"
        assert duty.due_on == add_working_days(today(), 7).due
        assert duty.disclosure_id == disclosure_id_for(fake.agency_id, "licence", duty.decision_no)
        assert checker.flush(timeout=10) == 0
        kept = checker.storage.disclosures.get(duty.disclosure_id)
        assert kept is not None
        assert kept.posted
        assert kept.published_on == today()
        assert kept.state(today()) == "on_time"
        assert checker.health()["disclosures"] == {
            "pending": 0,
            "due": 0,
            "late": 0,
            "next_due_on": None,
        }
    sent = fake.disclosures[duty.disclosure_id]
    assert sent["body"]["kind"] == "licence"
    assert sent["body"]["check_id"] == decision.check_id
    assert sent["body"]["content"] == {"scope": "餐饮服务", "valid_until": "2031-12-31"}


def test_a_disclosure_made_after_its_due_day_is_late(tmp_path: Path) -> None:
    fake = FakePlatform()
    fake.outage()
    with fake.checker(tmp_path, timeout=1.0) as checker:
        duty = _disclose(checker, decided_on=LONG_AGO)
        assert duty.due_on == date(2026, 1, 14)
        assert duty.state(today()) == "late"
        health = checker.health()["disclosures"]
        assert health == {"pending": 1, "due": 0, "late": 1, "next_due_on": None}
        fake.outage(False)
        assert checker.flush(timeout=10) == 0
        kept = checker.storage.disclosures.get(duty.disclosure_id)
        assert kept is not None
        assert kept.published_on == today()
        assert kept.state(today()) == "late"
        assert kept.on_time() is False
    assert duty.disclosure_id in fake.disclosures


def test_a_due_disclosure_waits_through_an_outage(tmp_path: Path) -> None:
    fake = FakePlatform()
    fake.outage()
    with fake.checker(tmp_path, timeout=1.0) as checker:
        duty = _disclose(checker)
        checker.flush(timeout=2)
        health = checker.health()["disclosures"]
        assert health == {
            "pending": 1,
            "due": 1,
            "late": 0,
            "next_due_on": duty.due_on.isoformat(),
        }
    assert fake.disclosures == {}
    fake.outage(False)
    # A later checker on the same data folder posts what the first could not.
    with fake.checker(tmp_path) as checker:
        checker.flush(timeout=10)
        assert checker.health()["disclosures"]["pending"] == 0
    assert list(fake.disclosures) == [duty.disclosure_id]


def test_a_repeat_is_the_same_disclosure_and_another_body_is_refused(tmp_path: Path) -> None:
    fake = FakePlatform()
    with fake.checker(tmp_path) as checker:
        first = _disclose(checker)
        checker.flush(timeout=10)
        again = _disclose(checker)
        assert again.disclosure_id == first.disclosure_id
        assert again.posted
        with pytest.raises(InvalidRequestError, match="another body"):
            _disclose(checker, title="另一许可")
        penalty = _disclose(checker, kind="penalty", title="行政处罚决定")
        assert penalty.disclosure_id != first.disclosure_id
        checker.flush(timeout=10)
    assert len(fake.disclosures) == 2


@pytest.mark.parametrize(
    ("over", "error", "text"),
    [
        ({"kind": "fine"}, InvalidArgumentError, "licensing or penalty"),
        ({"kind": None}, ArgumentTypeError, "kind"),
        ({"subject": "91442000MA4UJ2KQ58"}, InvalidSubjectError, "neither a valid USCC"),
        ({"subject": 42}, ArgumentTypeError, "subject"),
        ({"decision_no": " "}, InvalidArgumentError, "decision_no"),
        ({"decided_on": today() + timedelta(days=1)}, InvalidArgumentError, "after today"),
        ({"decided_on": datetime(2026, 3, 2, 9, 0)}, ArgumentTypeError, "decided_on"),
        ({"decided_on": "2026-13-01"}, InvalidArgumentError, "decided_on"),
        ({"title": ""}, InvalidArgumentError, "title"),
        ({"content": ["not", "an", "object"]}, ArgumentTypeError, "content"),
        ({"content": {"amount": float("nan")}}, InvalidArgumentError, "content"),
        ({"content": {"at": object()}}, InvalidArgumentError, "content"),
        ({"check_id": "no-such-check"}, InvalidRequestError, "no check"),
    ],
)
def test_bad_input_is_refused_before_anything_is_kept_or_sent(
    tmp_path: Path, over: dict[str, Any], error: type[Exception], text: str
) -> None:
    fake = FakePlatform()
    with fake.checker(tmp_path) as checker:
        with pytest.raises(error, match=text):
            _disclose(checker, **over)
        assert checker.storage.disclosures.select() == []
        checker.flush(timeout=5)
    assert fake.disclosures == {}
    assert all(path != "disclosures" for _, path in fake.requests)


def test_the_check_behind_a_disclosure_must_be_of_its_subject(tmp_path: Path) -> None:
    fake = FakePlatform()
    with fake.checker(tmp_path) as checker:
        other = checker.must_check(OTHER, "licensing")
        with pytest.raises(InvalidRequestError, match="not of"):
            _disclose(checker, check_id=other.check_id)
        assert checker.storage.disclosures.select() == []


def test_a_disclosure_is_on_disk_when_disclose_returns(tmp_path: Path) -> None:
    """A process killed right after ``disclose()`` returned (the platform down, nothing
    posted) leaves the disclosure for the next checker to post."""
    fake = FakePlatform()
    url = fake.serve()
    fake.outage()
    script = textwrap.dedent(
        f"""
        import os
        from credit_check_sdk import CreditChecker
        checker = CreditChecker(base_url={url!r}, app_id={fake.app_id!r},
                                app_secret={fake.app_secret!r}, agency_id={fake.agency_id!r},
                                data_dir={str(tmp_path)!r}, timeout=1.0)
        duty = checker.disclose("penalty", {ORG!r}, "中市监罚〔2026〕9号",
                                "{LONG_AGO.isoformat()}", "行政处罚决定书")
        print(duty.disclosure_id, flush=True)
        os._exit(9)  # no close, no flush: only what is on disk survives
        """
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 9, done.stderr
        disclosure_id = done.stdout.strip()
        with open_storage(data_dir=tmp_path) as storage:
            kept = storage.disclosures.get(disclosure_id)
            assert kept is not None
            assert not kept.posted
        fake.outage(False)
        with fake.checker(tmp_path) as checker:
            checker.flush(timeout=10)
        assert disclosure_id in fake.disclosures
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    pytest.importorskip("fastapi")
    from credit_check_sandbox.process import SandboxProcess

    with SandboxProcess(seed_size=10) as process:
        yield process


def test_the_sandbox_publishes_what_the_checker_discloses(sandbox: Any, tmp_path: Path) -> None:
    with sandbox.checker(tmp_path) as checker:
        decision = checker.must_check(ORG, "licensing")
        on_time = _disclose(checker, check_id=decision.check_id)
        late = _disclose(checker, "中市监罚〔2026〕2号", kind="penalty", decided_on=LONG_AGO)
        assert checker.flush(timeout=20) == 0
        states = {d.disclosure_id: d.state(today()) for d in checker.storage.disclosures.select()}
    assert states == {on_time.disclosure_id: "on_time", late.disclosure_id: "late"}
    published = {d["disclosure_id"]: d for d in sandbox.admin("GET", "/disclosures")}
    assert published[on_time.disclosure_id]["check_id"] == decision.check_id
    assert published[late.disclosure_id]["kind"] == "penalty"
    assert published[late.disclosure_id]["published_on"] == today().isoformat()


FORKED = textwrap.dedent(
    """
    import os, sys
    from credit_check_sdk import CreditChecker
    url, app_id, secret, agency, data = sys.argv[1:6]
    checker = CreditChecker(base_url=url, app_id=app_id, app_secret=secret,
                            agency_id=agency, data_dir=data, timeout=5.0)
    checker.disclose("licensing", "91442000MA4UJ2KQ57", "parent-1", "2026-12-01", "许可")
    assert checker.flush(timeout=10) == 0, "parent"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # The child's copy has no uploader thread: disclose() starts its own.
            duty = checker.disclose("penalty", "91442000MA4UJ2KQ57", "child-1",
                                    "2026-12-01", "处罚")
            checker.flush(timeout=10)
            kept = checker.storage.disclosures.get(duty.disclosure_id)
            code = 0 if kept is not None and kept.posted else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    checker.disclose("licensing", "91442000MA4UJ2KQ57", "parent-2", "2026-12-01", "许可")
    assert checker.flush(timeout=10) == 0, "parent after fork"
    checker.close()
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="needs os.fork")
def test_a_forked_child_posts_its_own_disclosures(tmp_path: Path) -> None:
    fake = FakePlatform()
    url = fake.serve()
    try:
        args = [url, fake.app_id, fake.app_secret, fake.agency_id, str(tmp_path)]
        done = subprocess.run(
            [sys.executable, "-c", FORKED, *args], capture_output=True, text=True, timeout=90
        )
        assert done.returncode == 0, done.stderr[-3000:]
        numbers = sorted(d["body"]["decision_no"] for d in fake.disclosures.values())
        assert numbers == ["child-1", "parent-1", "parent-2"]
    finally:
        fake.stop()


# --- the monthly report's v2 fields, from what a checker did ------------------------------


def test_the_months_report_counts_disclosures_and_feedback_by_authority(
    tmp_path: Path,
) -> None:
    from credit_check_sdk.report import build_monthly_report, submit_report

    fake = FakePlatform()
    fake.add_entry(ORG, "black", "court_judgment_defaulter", authority="中山市中级人民法院")
    with fake.checker(tmp_path) as checker:
        restricted = checker.must_check(ORG, "bidding")
        assert restricted.outcome.value == "restriction"
        checker.record_action(restricted.check_id, "applied")
        checker.must_check(OTHER, "bidding")  # nothing triggered: no authority line
        _disclose(checker, kind="penalty", check_id=restricted.check_id)
        _disclose(checker, "中市监许〔2026〕2号", decided_on=LONG_AGO)  # made late
        assert checker.flush(timeout=10) == 0
        period = f"{today():%Y-%m}"
        report = build_monthly_report(checker.storage, agency_id=fake.agency_id, period=period)
        submit_report(checker.client, report, checker.storage)
    wire = report.wire()
    assert wire["disclosures"] == {"made": 2, "on_time": 1, "late": 1, "overdue": 0}
    [line] = wire["by_authority"]
    assert line["authority"] == "中山市中级人民法院"
    assert (line["checks"], line["triggered"], line["applied"]) == (1, len(restricted.applied), 1)
    assert (line["not_applied"], line["overridden"]) == (0, 0)
    [stored] = fake.reports[(fake.agency_id, period)]
    assert stored["by_authority"] == wire["by_authority"]
    assert stored["disclosures"] == wire["disclosures"]


def test_the_sandbox_takes_the_report_with_its_v2_fields(sandbox: Any, tmp_path: Path) -> None:
    from credit_check_sdk.report import build_monthly_report, submit_report
    from tests.test_platform_contract import new_org

    org = new_org()
    body = {
        "subject_id": org,
        "list": "black",
        "category": "court_judgment_defaulter",
        "authority": "中山市第一人民法院",
    }
    sandbox.admin("POST", "/entries", json=body)
    with sandbox.checker(tmp_path) as checker:
        restricted = checker.must_check(org, "bidding")
        checker.record_action(restricted.check_id, "overridden", reason="法院已裁定解除")
        _disclose(checker, "中市监罚〔2026〕77号", kind="penalty", subject=org)
        assert checker.flush(timeout=20) == 0
        period = f"{today():%Y-%m}"
        report = build_monthly_report(checker.storage, agency_id=sandbox.agency_id, period=period)
        submit_report(checker.client, report, checker.storage)
    wire = report.wire()
    lines = {line["authority"]: line for line in wire["by_authority"]}
    assert lines["中山市第一人民法院"]["overridden"] == 1
    assert lines["中山市第一人民法院"]["checks"] == 1
    assert wire["disclosures"]["made"] >= 1
    stored = sandbox.admin("GET", "/reports", params={"agency_id": sandbox.agency_id})
    last = [r["report"] for r in stored if r["period"] == period][-1]
    assert last["by_authority"] == wire["by_authority"]
    assert last["disclosures"] == wire["disclosures"]
