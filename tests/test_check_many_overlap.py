"""``must_check_many`` prepares the checks of one answer while the next request is awaited.

The steps driver (sync and async) performs an ``Alongside`` step: the request in
one thread, the preparing (deciding, serialising, hashing the inputs) in
another, both over before the steps go on. These tests show that the work truly
runs during the request (the request waits for it), that an error on either side
is thrown in after both ended, that the checks come out in the callers' order,
each journaled once with its inputs in one valid chain, over real HTTP, and
that a failed request loses none of the checks prepared alongside it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import uscc

from credit_check_sdk import AsyncCreditChecker, CreditChecker, Outcome
from credit_check_sdk._steps import Alongside, Call, Offload, Steps, alongside, run_sync
from credit_check_sdk.storage._journal_core import SerialisedRecord, prepare_record
from credit_check_sdk.testing import FakePlatform

WAIT = 10.0  # a hang guard, never reached when the work runs alongside


def _company(n: int) -> str:
    body = f"91442000MA{n:07d}"
    return body + uscc.calc_check_digit(body)


SUBJECTS = [_company(n) for n in range(450)]  # three profiles:batch requests


# --- the step and its sync driver ------------------------------------------------------


def _one_request() -> Steps[Any]:
    answer = yield Call("POST", "/v1/profiles:batch")
    return answer


def test_the_work_runs_in_another_thread_while_the_request_is_under_way() -> None:
    started = threading.Event()
    threads: list[threading.Thread] = []

    def work() -> None:
        threads.append(threading.current_thread())
        started.set()

    def request(call: Call) -> str:
        # Returns only once the work has started: it must run during the request.
        assert started.wait(WAIT), "the work did not run while the request was awaited"
        return "answer"

    assert run_sync(alongside(_one_request(), Offload(work)), request=request) == "answer"
    assert threads
    assert threads[0] is not threading.current_thread()


def test_a_failed_request_is_thrown_in_after_the_work_is_done() -> None:
    done: list[int] = []

    def steps() -> Steps[str]:
        try:
            yield Alongside(Call("GET", "/x"), Offload(done.append, (1,)))
        except ConnectionError as exc:
            return f"caught {exc} after {done}"
        return "no error"

    def request(call: Call) -> str:
        raise ConnectionError("down")

    assert run_sync(steps(), request=request) == "caught down after [1]"


def test_the_works_error_is_thrown_in_instead_of_the_answer() -> None:
    def work() -> None:
        raise ValueError("bad record")

    def steps() -> Steps[str]:
        try:
            yield Alongside(Call("GET", "/x"), Offload(work))
        except ValueError as exc:
            return f"caught {exc}"
        return "answer used"

    assert run_sync(steps(), request=lambda call: "answer") == "caught bad record"


def test_steps_that_make_no_request_leave_the_work_to_the_caller() -> None:
    done: list[int] = []

    def no_request() -> Steps[int]:
        value = yield Offload(lambda: 41)
        return value + 1  # type: ignore[no-any-return]

    assert run_sync(alongside(no_request(), Offload(done.append, (1,))), request=print) == 42
    assert done == []


# --- a record serialised ahead of its append -------------------------------------------


RECORD = {"type": "check", "id": "c1", "checked_at": "2026-12-03T08:00:00+08:00"}


def test_a_serialised_record_is_read_only_and_each_append_gets_its_own_copy() -> None:
    record = SerialisedRecord(RECORD, {"on": "2026-12-03"})
    with pytest.raises(TypeError):
        record["outcome"] = "normal"
    inputs = record.inputs
    first, second = prepare_record(record, inputs), prepare_record(record, inputs)
    assert first.record is not second.record
    assert first.record == second.record
    assert first.inputs == second.inputs == '{"on": "2026-12-03"}'
    plain = prepare_record(dict(RECORD), {"on": "2026-12-03"})
    assert (plain.parts, plain.at, plain.inputs_key) == (first.parts, first.at, first.inputs_key)


def test_a_serialised_record_appended_with_other_inputs_is_checked_again() -> None:
    record = SerialisedRecord(RECORD, None)
    prepared = prepare_record(record, {"on": "2026-12-04"})
    assert prepared.inputs == '{"on": "2026-12-04"}'
    from credit_check_sdk import InvalidRequestError

    action = SerialisedRecord({**RECORD, "type": "action", "acted_at": RECORD["checked_at"]}, None)
    with pytest.raises(InvalidRequestError, match="check records only"):
        prepare_record(action, {"on": "2026-12-04"})


def test_a_bad_record_is_refused_when_it_is_serialised() -> None:
    from credit_check_sdk import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="no UTC offset"):
        SerialisedRecord({**RECORD, "checked_at": "2026-12-03T08:00:00"}, None)


def test_a_check_record_the_sdk_built_is_kept_as_it_is_and_prepared_as_if_parsed_back() -> None:
    """prepare_check's records (JSON values only, checked at a known instant) skip the
    parse-back and the parsing of their time: what is stored is the same."""
    from datetime import datetime, timedelta, timezone

    at = datetime(2026, 12, 3, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    built = {
        **RECORD,
        "checked_at": at.isoformat(),
        "operator": "张三",
        "matter": {"category": "bidding", "code": None, "case_id": "A-1"},
        "measures": [{"id": "P-BID-EXCLUDE", "status": "applied", "entry_ids": ["BL-1"]}],
    }
    inputs = {"profile": {"entries": [{"entry_id": "BL-1", "authority": "中山市中级人民法院"}]}}
    trusted, checked = SerialisedRecord(built, inputs, at), SerialisedRecord(built, inputs)
    assert trusted == checked
    a, b = prepare_record(trusted, inputs), prepare_record(checked, inputs)
    assert (a.record, a.parts, a.at, a.check_id, a.columns, a.measure_rows) == (
        b.record,
        b.parts,
        b.at,
        b.check_id,
        b.columns,
        b.measure_rows,
    )
    assert a.authority_rows == b.authority_rows == [(0, "中山市中级人民法院")]
    assert a.at == "2026-12-03T00:00:00.123456Z"
    # A time that is not the record's own is parsed from the record, as for any other.
    other = SerialisedRecord(built, inputs, at + timedelta(seconds=1))
    assert prepare_record(other, inputs).at == a.at


# --- over real HTTP ---------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.serve()
        platform.add_entry(SUBJECTS[7], "black", "court_judgment_defaulter")
        platform.add_entry(SUBJECTS[300], "black", "court_judgment_defaulter")
        yield platform


def _settings(fake: FakePlatform, data_dir: Path) -> dict[str, Any]:
    return {
        "base_url": fake.serve(),
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        "agency_id": fake.agency_id,
        "data_dir": data_dir,
        "timeout": WAIT,
        "offline": False,
    }


def _record_threads(core: CreditChecker) -> list[threading.Thread]:
    """The thread each check is prepared in (the checker's own method, called on)."""
    threads: list[threading.Thread] = []
    prepare = core._prepare_check

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return prepare(*args, **kwargs)

    core._prepare_check = recording  # type: ignore[method-assign]
    return threads


def _assert_journaled_in_order(
    core: CreditChecker, decisions: list[Any], wanted: list[str]
) -> None:
    assert [d.subject.id for d in decisions] == wanted
    assert len({d.check_id for d in decisions}) == len(wanted)
    for d in decisions:
        record = core.journal.get(d.check_id)
        assert record is not None
        assert record["outcome"] == d.outcome.value
        inputs = core.journal.inputs_for(d.check_id)
        assert inputs is not None
        assert inputs["profile"]["subject"]["id"] == d.subject.id
    assert core.journal.verify().ok
    # One transaction, chained in the callers' order.
    records = [core.journal.get(d.check_id) for d in decisions]
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(records))


def test_sync_checks_are_prepared_alongside_the_requests_and_journaled_in_order(
    fake: FakePlatform, tmp_path: Path
) -> None:
    with CreditChecker(**_settings(fake, tmp_path)) as checker:
        checker.must_check(SUBJECTS[0], "bidding")  # cached: prepared alongside request 1
        threads = _record_threads(checker)
        wanted = [*SUBJECTS, SUBJECTS[7]]  # a subject twice: two checks, one profile
        asked = len(fake.requests)
        decisions = checker.must_check_many(wanted, "bidding")
        _assert_journaled_in_order(checker, decisions, wanted)
        assert decisions[0].source == "cache"
        assert {d.source for d in decisions[1:]} == {"live"}
        assert decisions[7].outcome is Outcome.RESTRICTION is decisions[-1].outcome
        assert decisions[300].outcome is Outcome.RESTRICTION
        batches = [r for r in fake.requests[asked:] if r[1].endswith("/profiles:batch")]
        assert len(batches) == 3
        # The cache hit and the first two answers (the repeated subject among them)
        # were prepared while a request was under way, in a thread of their own; the
        # last answer's in the caller's.
        here = threading.current_thread()
        assert sum(t is not here for t in threads) == 1 + 200 + 200 + 1
        assert sum(t is here for t in threads) == 49


def test_a_failed_request_loses_none_of_the_checks_prepared_alongside_it(
    fake: FakePlatform, tmp_path: Path
) -> None:
    with CreditChecker(**_settings(fake, tmp_path)) as checker:
        checker.must_check(SUBJECTS[0], "bidding")
        fake.fail(503, path="profiles:batch")
        decisions = checker.must_check_many(SUBJECTS[:250], "bidding")
        assert decisions[0].source == "cache"
        assert not decisions[0].degraded
        assert {d.outcome for d in decisions[1:]} == {Outcome.REVIEW}
        assert all(checker.journal.get(d.check_id) for d in decisions)
        assert checker.journal.verify().ok


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_checks_are_prepared_alongside_the_requests_as_in_sync(
    fake: FakePlatform, tmp_path: Path, anyio_backend: str
) -> None:
    achecker = AsyncCreditChecker(**_settings(fake, tmp_path / "async"))
    try:
        await achecker.must_check(SUBJECTS[0], "bidding")
        threads = _record_threads(achecker._core)
        decisions = await achecker.must_check_many(SUBJECTS, "bidding")
        _assert_journaled_in_order(achecker._core, decisions, SUBJECTS)
        loop_thread = threading.current_thread()
        assert sum(t is not loop_thread for t in threads) == 1 + 200 + 200
    finally:
        await achecker.aclose(timeout=1)
    with CreditChecker(**_settings(fake, tmp_path / "sync")) as checker:
        sync = checker.must_check_many(SUBJECTS, "bidding")
    assert [d.outcome for d in decisions] == [d.outcome for d in sync]
