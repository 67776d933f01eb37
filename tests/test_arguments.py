"""Wrong types and values at the public surface: the documented error, before anything is
journaled or sent (property-based over every public call that takes agency input)."""

# ruff: noqa: E501 - TEXT_CALLS is a table of calls, one a line, easier to read unwrapped
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from credit_check_flow_bidding import Bidder, BiddingFlow, Tender
from credit_check_flow_honours import Award, HonoursFlow, Link, Nominee
from credit_check_flow_inspection import InspectionFlow, Plan, Supervised
from credit_check_flow_intermediary import Candidate, IntermediaryFlow, Project
from credit_check_flow_licensing import Application, LicensingFlow
from credit_check_flow_procurement import Procurement, ProcurementFlow, Supplier
from credit_check_flow_subsidy import SubsidyApplication, SubsidyFlow
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_check_sdk import (
    ArgumentTypeError,
    ConfigurationError,
    CreditChecker,
    CreditCheckError,
    Document,
    InvalidArgumentError,
    InvalidSubjectError,
    Matter,
    Settings,
    Subject,
    UnknownMatterError,
    configure,
)
from credit_check_sdk import must_check as module_must_check
from credit_check_sdk.arguments import LONG_TEXT, SHORT_TEXT, check_text
from credit_check_sdk.testing import FakePlatform

ORG = "91442000MA4UJ2KQ57"
DEFAULTER = "91442000MA4X00011J"
LONE_SURROGATE = json.loads('"\\ud800"')

# --- bad values ----------------------------------------------------------------------------

#: Not a string: what a careless caller or a JSON document may hand over.
NOT_TEXT = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.booleans(),
    st.sampled_from([object(), 1j, (ORG,), b"bidding"]),
)
#: Characters no text of the SDK may hold.
BAD_CHARS = [LONE_SURROGATE, "\udfff", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\u202e", "\ufffe"]
#: Text holding one of them somewhere, or far too long.
BAD_TEXT = st.one_of(
    st.tuples(st.text(max_size=12), st.sampled_from(BAD_CHARS), st.text(max_size=12)).map("".join),
    st.integers(LONG_TEXT + 1, LONG_TEXT + 50).map(lambda n: "x" * n),
)
#: One-line text also may not break lines.
BAD_LINE = st.one_of(BAD_TEXT, st.sampled_from(["a\nb", "a\rb", "\tx", "a\u2028b"]))


@dataclass
class World:
    fake: FakePlatform
    checker: CreditChecker
    check_id: str
    entry_id: str

    def journaled(self) -> int:
        return sum(self.checker.journal.counts().values())

    def unchanged(self, call: Callable[[], object], *errors: type[Exception]) -> Exception:
        """Run ``call``: it must raise one of ``errors``, journal nothing and send nothing."""
        records, requests = self.journaled(), len(self.fake.requests)
        watches = self.checker._offline.followups.counts()["watches"]
        with pytest.raises(errors) as caught:
            call()
        assert isinstance(caught.value, CreditCheckError)
        assert isinstance(caught.value, (ValueError, TypeError))
        assert self.journaled() == records
        assert len(self.fake.requests) == requests
        assert self.checker._offline.followups.counts()["watches"] == watches
        return caught.value


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    fake = FakePlatform(agency_id="AG-ARGS")
    entry = fake.add_entry(DEFAULTER, "black", "court_judgment_defaulter")
    checker = fake.checker(tmp_path_factory.mktemp("args"), offline=False)
    decision = checker.must_check(DEFAULTER, "bidding")
    assert checker.flush(timeout=10) == 0
    yield World(fake, checker, decision.check_id, entry)
    checker.close()


PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# --- the calls -----------------------------------------------------------------------------

#: Calls with one free-text argument, as ``(name, call(world, value), one_line, optional)``.
TEXT_CALLS: list[tuple[str, Callable[[World, Any], object], bool, bool]] = [
    ("must_check operator", lambda w, v: w.checker.must_check(ORG, "bidding", operator=v), 1, 1),
    ("must_check department", lambda w, v: w.checker.must_check(ORG, "bidding", department=v), 1, 1),
    ("must_check_many operator", lambda w, v: w.checker.must_check_many([ORG], "bidding", operator=v), 1, 1),
    ("record_action check_id", lambda w, v: w.checker.record_action(v, "applied"), 1, 0),
    ("record_action reason", lambda w, v: w.checker.record_action(w.check_id, "not_applied", reason=v), 0, 1),
    ("record_action operator", lambda w, v: w.checker.record_action(w.check_id, "applied", operator=v), 1, 1),
    ("file_objection check_id", lambda w, v: w.checker.file_objection(v, w.entry_id, "r", "u1"), 1, 0),
    ("file_objection entry_id", lambda w, v: w.checker.file_objection(w.check_id, v, "r", "u1"), 1, 0),
    ("file_objection reason", lambda w, v: w.checker.file_objection(w.check_id, w.entry_id, v, "u1"), 0, 0),
    ("file_objection submitted_by", lambda w, v: w.checker.file_objection(w.check_id, w.entry_id, "r", v), 1, 0),
    ("objection_status", lambda w, v: w.checker.objection_status(v), 1, 0),
    ("watch case_id", lambda w, v: w.checker.watch(ORG, "bidding", v), 1, 0),
    ("unwatch case_id", lambda w, v: w.checker.unwatch(ORG, v), 1, 0),
    ("Matter code", lambda w, v: w.checker.must_check(ORG, Matter("bidding", code=v)), 1, 1),
    ("Matter case_id", lambda w, v: w.checker.must_check(ORG, Matter("bidding", case_id=v)), 1, 1),
    ("Matter missing document", lambda w, v: Matter("licensing", missing_documents=[v]), 1, 0),
    ("Subject name", lambda w, v: w.checker.must_check(Subject(ORG, name=v), "bidding"), 1, 1),
    ("Document name", lambda w, v: Document(v), 1, 0),
    ("bidding screen operator", lambda w, v: BiddingFlow(w.checker).screen(Tender("ZB-1"), [Bidder.single("B1", ORG)], operator=v), 1, 1),
    ("bidding override reason", lambda w, v: BiddingFlow(w.checker).screen(Tender("ZB-1"), [Bidder.single("B1", DEFAULTER)], overrides={"B1": v}), 0, 1),
    ("bidding Tender code", lambda w, v: Tender(v), 1, 0),
    ("bidding bid_id", lambda w, v: Bidder.single(v, ORG), 1, 0),
    ("licensing accept reason", lambda w, v: LicensingFlow(w.checker).accept(Application(ORG, "XK-1", "C-1"), override="standard", reason=v), 0, 1),
    ("licensing case_id", lambda w, v: Application(ORG, "XK-1", v), 1, 0),
    ("procurement operator", lambda w, v: ProcurementFlow(w.checker).evaluate(Procurement("CG-1"), [Supplier.single("S1", ORG)], operator=v), 1, 1),
    ("procurement override", lambda w, v: ProcurementFlow(w.checker).evaluate(Procurement("CG-1"), [Supplier.single("S1", DEFAULTER)], overrides={"S1": v}), 0, 1),
    ("subsidy operator", lambda w, v: SubsidyFlow(w.checker).review([SubsidyApplication("SQ-1", ORG)], operator=v), 1, 1),
    ("subsidy override", lambda w, v: SubsidyFlow(w.checker).review([SubsidyApplication("SQ-1", DEFAULTER)], overrides={"SQ-1": v}), 0, 1),
    ("honours screen operator", lambda w, v: HonoursFlow(w.checker).screen(Award("PY-1"), [Nominee("N1", ORG)], operator=v), 1, 1),
    ("honours override reason", lambda w, v: HonoursFlow(w.checker).screen(Award("PY-1"), [Nominee("N1", DEFAULTER)], overrides={"N1": v}), 0, 1),
    ("honours Award code", lambda w, v: Award(v), 1, 0),
    ("honours nominee_id", lambda w, v: Nominee(v, ORG), 1, 0),
    ("honours Link name", lambda w, v: Link(DEFAULTER, "principal", name=v), 1, 1),
    ("inspection plan operator", lambda w, v: InspectionFlow(w.checker).plan(Plan("JC-1"), [Supervised(ORG)], operator=v), 1, 1),
    ("inspection override reason", lambda w, v: InspectionFlow(w.checker).plan(Plan("JC-1"), [Supervised(ORG, ref="J1")], overrides={"J1": ("key", v)}), 0, 0),
    ("inspection Supervised ref", lambda w, v: Supervised(ORG, ref=v), 1, 1),
    ("intermediary select operator", lambda w, v: IntermediaryFlow(w.checker).select(Project("ZJ-1"), [Candidate("C1", ORG)], operator=v), 1, 1),
    ("intermediary override reason", lambda w, v: IntermediaryFlow(w.checker).select(Project("ZJ-1"), [Candidate("C1", DEFAULTER)], overrides={"C1": v}), 0, 1),
    ("intermediary leave_out reason", lambda w, v: IntermediaryFlow(w.checker).select(Project("ZJ-1"), [Candidate("C1", DEFAULTER)], leave_out={"C1": v}), 0, 1),
    ("intermediary Project code", lambda w, v: Project(v), 1, 0),
    ("intermediary candidate_id", lambda w, v: Candidate(v, ORG), 1, 0),
]  # fmt: skip


@pytest.mark.parametrize(("name", "call", "one_line", "optional"), TEXT_CALLS, ids=lambda x: x)
@PROPERTY
@given(data=st.data())
def test_text_of_the_wrong_type_is_an_argument_type_error(
    world: World,
    name: str,
    call: Callable[[World, Any], object],
    one_line: bool,
    optional: bool,
    data: st.DataObject,
) -> None:
    value = data.draw(NOT_TEXT if optional else st.one_of(st.none(), NOT_TEXT))
    error = world.unchanged(lambda: call(world, value), ArgumentTypeError)
    assert isinstance(error, TypeError)


@pytest.mark.parametrize(("name", "call", "one_line", "optional"), TEXT_CALLS, ids=lambda x: x)
@PROPERTY
@given(data=st.data())
def test_text_that_cannot_be_stored_or_shown_is_refused(
    world: World,
    name: str,
    call: Callable[[World, Any], object],
    one_line: bool,
    optional: bool,
    data: st.DataObject,
) -> None:
    value = data.draw(BAD_LINE if one_line else BAD_TEXT)
    error = world.unchanged(lambda: call(world, value), InvalidArgumentError)
    assert not isinstance(error, ArgumentTypeError)
    if LONE_SURROGATE in value:
        assert LONE_SURROGATE not in str(error)  # the message can be logged and shown


@PROPERTY
@given(value=st.one_of(st.none(), NOT_TEXT, BAD_TEXT, st.text(max_size=30)))
def test_a_bad_subject_is_an_invalid_subject_error(world: World, value: Any) -> None:
    for call in (
        lambda: world.checker.must_check(value, "bidding"),
        lambda: world.checker.must_check_many([ORG, value], "bidding"),
        lambda: world.checker.watch(value, "bidding", "C-1"),
        lambda: world.checker.unwatch(value, "C-1"),
        lambda: Subject(value),
        lambda: BiddingFlow(world.checker).screen(Tender("ZB-1"), [Bidder.single("B1", value)]),
    ):
        world.unchanged(call, InvalidSubjectError)


@PROPERTY
@given(value=st.one_of(st.none(), NOT_TEXT))
def test_a_matter_of_the_wrong_type_is_an_argument_type_error(world: World, value: Any) -> None:
    for call in (
        lambda: world.checker.must_check(ORG, value),
        lambda: world.checker.must_check_many([ORG], value),
        lambda: world.checker.watch(ORG, value, "C-1"),
        lambda: Matter(value),
    ):
        world.unchanged(call, ArgumentTypeError)


@PROPERTY
@given(value=st.one_of(BAD_LINE, st.text(min_size=1, max_size=30)))
def test_a_matter_category_is_text_the_catalogue_knows(world: World, value: str) -> None:
    if value.strip() in world.checker.catalog.matters():
        return
    world.unchanged(
        lambda: world.checker.must_check(ORG, value),
        InvalidArgumentError,
        UnknownMatterError,
    )


@PROPERTY
@given(value=st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.booleans())))
def test_flags_are_true_or_false(world: World, value: Any) -> None:
    for call in (
        lambda: world.checker.must_check(ORG, "bidding", fresh=value),
        lambda: world.checker.must_check_many([ORG], "bidding", fresh=value),
        lambda: Matter("licensing", commitment=value),
        lambda: Document("场地证明", statutory=value),
        lambda: Application(ORG, "XK-1", "C-1", commitment_signed=value),
    ):
        world.unchanged(call, ArgumentTypeError)


@PROPERTY
@given(value=st.one_of(st.none(), NOT_TEXT, st.text(max_size=12)))
def test_an_action_is_one_of_three(world: World, value: Any) -> None:
    if value in ("applied", "not_applied", "overridden"):
        return
    world.unchanged(
        lambda: world.checker.record_action(world.check_id, value),
        ArgumentTypeError if not isinstance(value, str) else InvalidArgumentError,
    )


@PROPERTY
@given(
    value=st.one_of(
        st.text(max_size=8),
        st.binary(max_size=8),
        st.integers(),
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
        st.lists(st.one_of(st.integers(), st.none(), BAD_LINE), min_size=1, max_size=3),
    )
)
def test_measure_ids_are_a_list_of_text(world: World, value: Any) -> None:
    world.unchanged(
        lambda: world.checker.record_action(world.check_id, "applied", measure_ids=value),
        InvalidArgumentError,
    )


@PROPERTY
@given(value=st.one_of(st.text(max_size=20), st.binary(max_size=20), st.integers(), st.none()))
def test_subjects_of_must_check_many_are_a_list(world: World, value: Any) -> None:
    world.unchanged(lambda: world.checker.must_check_many(value, "bidding"), ArgumentTypeError)


def test_the_operators_findings(world: World) -> None:
    """Each case the operator found, with its error, and nothing journaled or sent."""
    checker = world.checker
    for value in (None, 123, {"category": "bidding"}, ["bidding"], b"bidding"):
        world.unchanged(lambda v=value: checker.must_check(ORG, v), ArgumentTypeError)
    world.unchanged(
        lambda: checker.record_action(world.check_id, "not_applied", reason=12), ArgumentTypeError
    )
    world.unchanged(lambda: Matter("bidding", code=123), ArgumentTypeError)  # type: ignore[arg-type]
    world.unchanged(lambda: checker.must_check(ORG, "bidding", operator=123), ArgumentTypeError)
    world.unchanged(
        lambda: checker.must_check(ORG, "bidding", operator=LONE_SURROGATE), InvalidArgumentError
    )


def test_settings_and_configure_refuse_bad_values() -> None:
    base = {"base_url": "https://x.example/api", "app_id": "a", "app_secret": "s", "agency_id": "g"}
    for bad in (
        {"base_url": 123},
        {"base_url": b"https://x.example"},
        {"agency_id": "g" + LONE_SURROGATE},
        {"agency_id": "a\x00"},
        {"timeout": "soon"},
        {"timeout": -1},
        {"department": 5},
        {"no_such_setting": 1},
    ):
        with pytest.raises(ConfigurationError) as caught:
            Settings(**{**base, **bad})
        assert caught.value.setting == next(iter(bad))
        with pytest.raises(ConfigurationError):
            configure(**bad)
    with pytest.raises(ArgumentTypeError):
        CreditChecker("not settings")  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError):
        CreditChecker(Settings(**base), on_watch=5)  # type: ignore[arg-type]


def test_the_module_level_must_check_refuses_bad_arguments(tmp_path: Path) -> None:
    fake = FakePlatform(agency_id="AG-ARGS")
    base_url = fake.serve()
    try:
        configure(
            base_url=base_url,
            app_id=fake.app_id,
            app_secret=fake.app_secret,
            agency_id=fake.agency_id,
            data_dir=str(tmp_path),
            offline=False,
        )
        for call, error in (
            (lambda: module_must_check(ORG, 123), ArgumentTypeError),  # type: ignore[arg-type]
            (lambda: module_must_check(ORG, "bidding", operator=123), ArgumentTypeError),
            (lambda: module_must_check(ORG, "bidding", department="\x00"), InvalidArgumentError),
            (lambda: module_must_check(123, "bidding"), InvalidSubjectError),  # type: ignore[arg-type]
        ):
            with pytest.raises(error):
                call()
        assert not fake.records
        assert module_must_check(ORG, "bidding").outcome.value == "normal"
    finally:
        configure()  # closes the default checker
        fake.stop()


@pytest.mark.parametrize("n", [SHORT_TEXT, SHORT_TEXT + 1])
def test_the_length_limit_is_inclusive(n: int) -> None:
    if n <= SHORT_TEXT:
        assert check_text("x" * n, "operator") == "x" * n
    else:
        with pytest.raises(InvalidArgumentError, match=f"at most {SHORT_TEXT}"):
            check_text("x" * n, "operator")
