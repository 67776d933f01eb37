"""The SDK's logging: silent unless the application asks, structured, never a full personal id.

What an application sees through ``logging``: the ``credit_check_sdk`` logger has a
``NullHandler`` (nothing reaches Python's last-resort handler in a program that set
up no logging); each check's log line carries its fields in ``extra``; and no log
record, message, argument, extra field or traceback holds a full personal id number.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from credit_check_sdk import Document, Matter
from credit_check_sdk._ids import mask_id
from credit_check_sdk.testing import FakePlatform

PERSON = "442000198803122010"  # a natural person (RIC): must never be logged in full
PERSON_2 = "44200019900715303X"
COMPANY = "91442000MA4UC00019"

#: The LogRecord attributes every record has; whatever else a record carries came in ``extra``.
_STANDARD = set(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None))) | {
    "message",
    "asctime",
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


# An application with no logging set up, checking against a platform that refuses
# connections: the SDK logs warnings (profile unavailable, …) and decides "review".
_NO_LOGGING_APP = """
{setup}
from credit_check_sdk import CreditChecker

with CreditChecker(
    base_url="http://127.0.0.1:{port}/api", app_id="a", app_secret="s", agency_id="a",
    data_dir="{data_dir}", timeout=0.5,
) as checker:
    print(checker.must_check("91442000MA4UC00019", "bidding").outcome.value)
"""


def test_the_package_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("credit_check_sdk").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_an_application_without_logging_prints_nothing_from_the_sdk(tmp_path: Path) -> None:
    port = _closed_port()
    quiet = _run(_NO_LOGGING_APP.format(setup="", port=port, data_dir=tmp_path / "quiet"), tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "review"
    assert quiet.stderr == ""
    # The same run with logging configured shows that warnings were logged all along.
    told = _run(
        _NO_LOGGING_APP.format(
            setup="import logging; logging.basicConfig()", port=port, data_dir=tmp_path / "told"
        ),
        tmp_path,
    )
    assert told.returncode == 0, told.stderr
    assert "WARNING:credit_check_sdk." in told.stderr


# --- structured fields on the check line ---------------------------------------------


def _check_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "credit_check_sdk._checker" and r.getMessage().startswith("check ")
    ]


def test_a_check_line_carries_its_fields_in_extra(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="credit_check_sdk")
    fake = FakePlatform()
    fake.add_entry(PERSON, "black", "wage_arrears")
    with fake.checker(cache_ttl=0) as checker:
        decision = checker.must_check(PERSON, "subsidy")
    [line] = _check_lines(caplog)
    fields = {k: v for k, v in vars(line).items() if k not in _STANDARD}
    assert fields == {
        "check_id": decision.check_id,
        "subject": mask_id(PERSON),
        "matter": "subsidy",
        "outcome": "restriction",
        "source": "live",
        "degraded": False,
    }
    assert fields["subject"] == "4420**********2010"


def test_a_degraded_check_says_so_in_extra(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="credit_check_sdk")
    fake = FakePlatform()
    with fake.checker(timeout=0.5, offline=False) as checker:  # no snapshot to decide from
        checker.must_check(COMPANY, "bidding")  # cached: decides during the outage
        caplog.clear()
        fake.outage()
        checker.must_check(COMPANY, "bidding", fresh=False)
        checker.must_check("91442000MA4UC0002C", "bidding")  # never seen: nothing to go on
    lines = _check_lines(caplog)
    fields = [vars(r) for r in lines]
    assert [(f["subject"], f["source"], f["degraded"], f["outcome"]) for f in fields] == [
        (COMPANY, "cache", False, "normal"),
        ("91442000MA4UC0002C", "none", True, "review"),
    ]


# --- no full personal id, anywhere ---------------------------------------------------


def _texts(record: logging.LogRecord) -> Iterator[str]:
    """Everything of a record a handler could write: message, arguments, extras, traceback."""
    yield record.getMessage()
    yield str(record.msg)
    yield repr(record.args)
    for key, value in vars(record).items():
        if key not in _STANDARD:
            yield f"{key}={value!r}"
    if record.exc_info:
        yield logging.Formatter().formatException(record.exc_info)
    if record.stack_info:
        yield record.stack_info


def _assert_no_full_ids(records: list[logging.LogRecord], *ids: str) -> None:
    assert records, "nothing was logged: the scenario did not run"
    for record in records:
        for text in _texts(record):
            for full in ids:
                assert full not in text, (record.name, text)


@pytest.fixture
def everything(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_live_checks_of_persons_log_no_full_id(everything: pytest.LogCaptureFixture) -> None:
    fake = FakePlatform()
    fake.add_entry(PERSON, "black", "wage_arrears")
    fake.relate(COMPANY, PERSON)
    with fake.checker(cache_ttl=0) as checker:
        checker.must_check(PERSON, "subsidy")
        checker.must_check(COMPANY, "subsidy")  # the person reached through related[]
        checker.must_check_many([PERSON, PERSON_2], "licensing")
        checker.must_check(
            PERSON_2,
            Matter("licensing", case_id=f"XK-{PERSON_2}", missing_documents=[Document("租赁合同")]),
        )
        checker.watch(PERSON, "subsidy", case_id="SUB-1")
    _assert_no_full_ids(everything.records, PERSON, PERSON_2)
    assert any(mask_id(PERSON) in r.getMessage() for r in everything.records)


def test_platform_faults_log_no_full_id(everything: pytest.LogCaptureFixture) -> None:
    with FakePlatform() as fake:
        fake.serve()  # real HTTP: transport errors, retries and problem documents
        with fake.checker(timeout=1.0, cache_ttl=0) as checker:
            fake.fail(500, times=1)
            checker.must_check(PERSON, "subsidy")  # retried, then answered
            fake.fail(503)
            assert checker.must_check(PERSON, "subsidy").degraded  # from the stale cache
            assert checker.must_check_many([PERSON, PERSON_2], "subsidy")[1].degraded
            fake.reset_faults()
            fake.malformed("not_json", times=5)
            checker.must_check(PERSON_2, "subsidy")
            fake.reset_faults()
            fake.reset(times=3)
            checker.must_check(PERSON_2, "bidding")
            fake.reset_faults()
    _assert_no_full_ids(everything.records, PERSON, PERSON_2)
    assert any(r.levelno >= logging.WARNING for r in everything.records)


def test_rechecks_and_rejected_uploads_log_no_full_id(
    everything: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    fake = FakePlatform(agency_id="zs-fgj")
    # Records filed under another agency id: the platform rejects every one.
    with fake.checker(tmp_path, agency_id="someone-else", cache_ttl=0) as checker:
        checker.must_check(PERSON, "subsidy")  # live, then cached for the outage
        fake.outage()
        degraded = checker.must_check(PERSON, "subsidy")
        assert degraded.degraded
        fake.add_entry(PERSON, "black", "wage_arrears")
        fake.outage(False)
        checker.recheck_pending()  # or the background pass did it already
        deadline = time.monotonic() + 30
        while not any("outcome now" in r.getMessage() for r in everything.records):
            assert time.monotonic() < deadline, "the degraded check was not re-checked"
            time.sleep(0.05)
        checker.flush(timeout=10)
        assert checker.upload_stats()["rejected"] >= 3
    _assert_no_full_ids(everything.records, PERSON)
    messages = " ".join(r.getMessage() for r in everything.records)
    assert "outcome now restriction" in messages
    assert "reject" in messages


# --- docs/logging.md ---------------------------------------------------------------

LOGGING_PAGE = Path(__file__).resolve().parent.parent / "docs" / "logging.md"


def test_the_logging_page_names_every_logger_of_the_library() -> None:
    import credit_check_sandbox

    import credit_check_sdk

    page = LOGGING_PAGE.read_text(encoding="utf-8")
    packages = [Path(p.__file__).parent for p in (credit_check_sdk, credit_check_sandbox)]
    for package, source in ((p, s) for p in packages for s in p.rglob("*.py")):
        if "getLogger(__name__)" not in source.read_text(encoding="utf-8"):
            continue
        parts = source.relative_to(package.parent).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__")
        if name.startswith("credit_check_sandbox"):
            name = "credit_check_sandbox.*"  # the server, one row
        elif name == "credit_check_sdk":
            continue  # the package's own logger: the NullHandler
        assert f"`{name}`" in page, f"docs/logging.md does not name the logger {name}"


def test_the_json_logging_example_writes_the_check_fields(tmp_path: Path) -> None:
    import json
    import re

    page = LOGGING_PAGE.read_text(encoding="utf-8")
    [example] = re.findall(r'```python title="json_logging.py"\n(.*?)```', page, re.S)
    app = example + textwrap.dedent(f"""
        from credit_check_sdk.testing import FakePlatform

        fake = FakePlatform()
        fake.add_entry("{PERSON}", "black", "wage_arrears")
        with fake.checker({str(tmp_path / "sdk")!r}) as checker:
            checker.must_check("{PERSON}", "subsidy")
        """)
    done = subprocess.run(
        [sys.executable, "-c", app], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    [check] = [line for line in lines if "check_id" in line]
    assert check["logger"] == "credit_check_sdk._checker"
    assert check["subject"] == "4420**********2010"
    assert (check["matter"], check["outcome"], check["source"], check["degraded"]) == (
        "subsidy",
        "restriction",
        "live",
        False,
    )
    assert PERSON not in done.stderr
