"""Bidder screening at bid opening and the re-check before award."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich.table import Table

from credit_check_sdk import (
    CreditChecker,
    DecidedMeasure,
    Decision,
    InvalidRequestError,
    Matter,
    Outcome,
    Reason,
    Subject,
)
from credit_check_sdk.arguments import (
    NAME_TEXT,
    check_instance,
    check_iterable,
    check_number,
    check_reasons,
    check_text,
)

__all__ = [
    "AwardCheck",
    "Bidder",
    "BidderResult",
    "BiddingFlow",
    "Exclusion",
    "Party",
    "Screening",
    "Tender",
]

logger = logging.getLogger(__name__)

Role = Literal["bidder", "consortium_member", "legal_representative"]
Status = Literal["admitted", "excluded", "review"]
_ROLE_ZH = {
    "bidder": "投标人",
    "consortium_member": "联合体成员",
    "legal_representative": "法定代表人",
}
_STATUS_ZH = {"admitted": "通过", "excluded": "排除", "review": "待人工核查"}


def _subject(value: Subject | str) -> Subject:
    return Subject.parse(value)


@dataclass(frozen=True)
class Party:
    """One company in a bid, with its legal representative (checked too, §三(七)).

    >>> Party("91442000MA4UJ2KQ57", legal_representative="442000199001011233").subject.kind
    'legal_entity'
    """

    subject: Subject
    legal_representative: Subject | None = None
    name: str | None = None

    def __init__(
        self,
        subject: Subject | str,
        legal_representative: Subject | str | None = None,
        name: str | None = None,
    ) -> None:
        object.__setattr__(self, "subject", _subject(subject))
        rep = _subject(legal_representative) if legal_representative is not None else None
        object.__setattr__(self, "legal_representative", rep)
        object.__setattr__(
            self, "name", check_text(name, "name", max_length=NAME_TEXT, optional=True)
        )

    @property
    def label(self) -> str:
        """The name when known, else the id."""
        return self.name or self.subject.name or self.subject.id


@dataclass(frozen=True)
class Bidder:
    """A bid: one party, or a consortium (联合体) whose members are all checked.

    >>> solo = Bidder.single("B1", "91442000MA4UJ2KQ57", name="中山市某某有限公司")
    >>> solo.consortium
    False
    """

    bid_id: str
    parties: tuple[Party, ...]
    name: str | None = None

    def __post_init__(self) -> None:
        if self.bid_id == "":
            raise InvalidRequestError("a bidder needs a bid_id")
        check_text(self.bid_id, "bid_id")
        parties = tuple(check_iterable(self.parties, "parties"))
        for party in parties:
            check_instance(party, "parties[]", Party)
        object.__setattr__(self, "parties", parties)
        check_text(self.name, "name", max_length=NAME_TEXT, optional=True)
        if not self.parties:
            raise InvalidRequestError(f"bid {self.bid_id} has no party")

    @classmethod
    def single(
        cls,
        bid_id: str,
        subject: Subject | str,
        legal_representative: Subject | str | None = None,
        name: str | None = None,
    ) -> Bidder:
        """A bid by one company."""
        return cls(bid_id, (Party(subject, legal_representative, name),), name)

    @property
    def consortium(self) -> bool:
        """More than one party: a consortium bid."""
        return len(self.parties) > 1

    @property
    def label(self) -> str:
        """The bid's name, or its parties' names."""
        if self.name:
            return self.name
        names = " + ".join(p.label for p in self.parties)
        return f"联合体: {names}" if self.consortium else names


@dataclass(frozen=True)
class Tender:
    """The procurement being tendered (招标项目)."""

    code: str
    case_id: str | None = None
    title: str | None = None

    def __post_init__(self) -> None:
        check_text(self.code, "code")
        check_text(self.case_id, "case_id", optional=True)
        check_text(self.title, "title", max_length=NAME_TEXT, optional=True)

    def matter(self, category: str = "bidding") -> Matter:
        """The matter each check is made for."""
        return Matter(category, code=self.code, case_id=self.case_id)


@dataclass(frozen=True)
class Exclusion:
    """A measure that excludes a bid (or asks for strict review), and the entries behind it."""

    party_id: str
    subject_id: str
    role: Role
    measure_id: str
    title: str
    mandatory: bool
    entry_ids: tuple[str, ...]
    check_id: str
    reasons: tuple[Reason, ...] = ()

    def describe(self) -> str:
        """One line for the record: measure, title, entries, and whose."""
        who = _ROLE_ZH[self.role]
        entries = ", ".join(self.entry_ids) or "-"
        return f"{self.measure_id} {self.title} ← {entries} ({who} {self.subject_id})"


@dataclass(frozen=True)
class BidderResult:
    """A bid's screening: status, bonus points and what lies behind them."""

    bidder: Bidder
    status: Status
    bonus_points: float = 0.0
    exclusions: tuple[Exclusion, ...] = ()
    strict_review: tuple[Exclusion, ...] = ()
    unverified: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()
    override_reason: str | None = None


def _row_text(result: BidderResult) -> tuple[str, str, str, str, str]:
    basis = [e.describe() for e in result.exclusions]
    basis += [f"从严审查: {e.describe()}" for e in result.strict_review]
    basis += [f"无法核验: {sid}" for sid in result.unverified]
    if result.override_reason:
        basis.append(f"评标委员会决定通过: {result.override_reason}")
    bonus = f"{result.bonus_points:g}" if result.status == "admitted" else "-"
    return (
        result.bidder.bid_id,
        result.bidder.label,
        _STATUS_ZH[result.status],
        bonus,
        "\n".join(basis),
    )


@dataclass(frozen=True)
class Screening:
    """The credit screening of every bid, as the evaluation committee's record.

    ``str(screening)`` is plain text for printing; in a :mod:`rich` console it
    renders as a table.
    """

    tender: Tender
    results: tuple[BidderResult, ...]
    max_bonus: float = 0.0
    action_ids: tuple[str, ...] = field(default=(), repr=False)

    @property
    def admitted(self) -> tuple[BidderResult, ...]:
        """Bids that pass the credit screening (with their bonus points)."""
        return tuple(r for r in self.results if r.status == "admitted")

    @property
    def excluded(self) -> tuple[BidderResult, ...]:
        """Bids excluded, each with the measures and entries behind it."""
        return tuple(r for r in self.results if r.status == "excluded")

    @property
    def review(self) -> tuple[BidderResult, ...]:
        """Bids whose credit could not be verified: a person checks before going on."""
        return tuple(r for r in self.results if r.status == "review")

    def result(self, bid_id: str) -> BidderResult:
        """The result of one bid."""
        for r in self.results:
            if r.bidder.bid_id == bid_id:
                return r
        raise KeyError(bid_id)

    def _title(self) -> str:
        parts = [f"信用核查记录 / credit screening — {self.tender.code}"]
        if self.tender.title:
            parts.append(self.tender.title)
        if self.tender.case_id:
            parts.append(f"({self.tender.case_id})")
        return " ".join(parts)

    def render_text(self) -> str:
        """The record as plain text, one block per bid.

        >>> print(Screening(Tender("ZB-1"), ()).render_text())
        信用核查记录 / credit screening — ZB-1
        通过 0, 排除 0, 待人工核查 0
        """
        lines = [self._title()]
        for row in map(_row_text, self.results):
            bid, label, status, bonus, basis = row
            lines.append(f"[{bid}] {label}: {status}, 信用加分 {bonus}")
            lines.extend(f"    {b}" for b in basis.splitlines())
        lines.append(
            f"通过 {len(self.admitted)}, 排除 {len(self.excluded)}, 待人工核查 {len(self.review)}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render_text()

    def __rich__(self) -> Table:
        """A :class:`rich.table.Table` of the record."""
        table = Table(title=self._title(), show_lines=True)
        for name in ("标段/投标", "投标人", "结论", "信用加分", "依据"):
            table.add_column(name)
        for row in map(_row_text, self.results):
            table.add_row(*row)
        return table


@dataclass(frozen=True)
class AwardCheck:
    """The re-check of the winning bid before award; ``allowed`` false refuses the award."""

    tender: Tender
    winner: Bidder
    allowed: bool
    exclusions: tuple[Exclusion, ...]
    unverified: tuple[str, ...]
    decisions: tuple[Decision, ...]
    action_ids: tuple[str, ...] = field(default=(), repr=False)

    @property
    def live(self) -> bool:
        """Every decision was made on live data (not a cache or the snapshot)."""
        return all(d.source == "live" for d in self.decisions)

    @property
    def refusal(self) -> str | None:
        """Why the award is refused, or ``None``."""
        if self.allowed:
            return None
        if self.exclusions:
            return "; ".join(e.describe() for e in self.exclusions)
        return "credit could not be verified: " + ", ".join(self.unverified)


def _arguments(tender: object, bidders: object, operator: object) -> list[Bidder]:
    """The public calls' arguments, checked before anything is checked or journaled."""
    check_instance(tender, "tender", Tender)
    found = list(check_iterable(bidders, "bidders"))
    for bidder in found:
        check_instance(bidder, "bidders[]", Bidder)
    check_text(operator, "operator", optional=True)
    return found


def _measures(decision: Decision, effects: tuple[str, ...]) -> list[DecidedMeasure]:
    return [m for m in decision.applied if m.effect in effects]


def _exclusions(
    decision: Decision, party: Party, role: Role, effects: tuple[str, ...]
) -> list[Exclusion]:
    return [
        Exclusion(
            party_id=party.subject.id,
            subject_id=decision.subject.id,
            role=role,
            measure_id=m.id,
            title=m.title.zh,
            mandatory=m.mandatory,
            entry_ids=m.entry_ids,
            check_id=decision.check_id,
            reasons=decision.reasons,
        )
        for m in _measures(decision, effects)
    ]


class BiddingFlow:
    """Credit checks in bidding (招投标, §三(二): 限制参与有关公共资源交易活动).

    Args:
        checker: the agency's :class:`~credit_check_sdk.CreditChecker`.
        max_bonus: the cap on credit bonus points from red-list measures.
        matter: the matter category checked (``bidding``).

    >>> from credit_check_sdk.testing import FakePlatform
    >>> fake = FakePlatform()
    >>> _ = fake.add_entry("91442000MA4UJ2KQ57", "black", "court_judgment_defaulter")
    >>> with fake.checker() as checker:
    ...     s = BiddingFlow(checker).screen(
    ...         Tender("ZB-2026-001"), [Bidder.single("B1", "91442000MA4UJ2KQ57")])
    ...     [r.exclusions[0].measure_id for r in s.excluded]
    ['P-BID-EXCLUDE']
    """

    matter_category = "bidding"

    def __init__(self, checker: CreditChecker, *, max_bonus: float = 3.0) -> None:
        self.checker = check_instance(checker, "checker", CreditChecker)
        self.max_bonus = check_number(max_bonus, "max_bonus", minimum=0)

    def screen(
        self,
        tender: Tender,
        bidders: Sequence[Bidder],
        *,
        operator: str | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> Screening:
        """Check every party and legal representative of every bid, in one batch.

        A bid is excluded when a restricting measure applies to any of its
        parties or their legal representatives (one excluded consortium member
        excludes the consortium). Strict-review measures are listed but do not
        exclude. ``overrides`` maps a bid id to the committee's reason for
        admitting it regardless; an empty reason raises
        :class:`~credit_check_sdk.InvalidRequestError` before anything is
        checked. Bonus points: the sum of a party's red-list bonus measures; a
        consortium gets its weakest member's; capped at ``max_bonus``.

        >>> s = flow.screen(Tender("ZB-1"), bidders, operator="u1")  # doctest: +SKIP
        >>> print(s)  # doctest: +SKIP
        """
        bidders = _arguments(tender, bidders, operator)
        overrides = check_reasons(overrides, "overrides")
        ids = [b.bid_id for b in bidders]
        if len(set(ids)) != len(ids):
            raise InvalidRequestError("bid ids must be unique")
        unknown = sorted(set(overrides) - set(ids))
        if unknown:
            raise InvalidRequestError(f"override for unknown bid(s): {', '.join(unknown)}")
        decisions = self._check(tender, bidders, operator)
        results = [self._judge(b, decisions, overrides.get(b.bid_id)) for b in bidders]
        action_ids = self._record(results, operator)
        return Screening(tender, tuple(results), self.max_bonus, tuple(action_ids))

    def confirm_award(
        self, tender: Tender, winner: Bidder, *, operator: str | None = None
    ) -> AwardCheck:
        """Check the winner again before award: lists change between opening and award.

        The award is refused (``allowed`` false) when a restricting measure
        now applies to a party or legal representative, or when the credit
        cannot be verified. The profile cache is bypassed: a listing made
        since the bids were opened counts.

        >>> flow.confirm_award(Tender("ZB-1"), winner).allowed  # doctest: +SKIP
        True
        """
        _arguments(tender, [check_instance(winner, "winner", Bidder)], operator)
        decisions = self._check(tender, [winner], operator, fresh=True)
        result = self._judge(winner, decisions, None)
        action_ids = self._record([result], operator)
        return AwardCheck(
            tender=tender,
            winner=winner,
            allowed=result.status == "admitted",
            exclusions=result.exclusions,
            unverified=result.unverified,
            decisions=result.decisions,
            action_ids=tuple(action_ids),
        )

    # -- internals -----------------------------------------------------------------

    def _check(
        self,
        tender: Tender,
        bidders: Iterable[Bidder],
        operator: str | None,
        *,
        fresh: bool = False,
    ) -> dict[str, Decision]:
        subjects: dict[str, Subject] = {}
        for bidder in bidders:
            for party in bidder.parties:
                subjects.setdefault(party.subject.id, party.subject)
                if party.legal_representative is not None:
                    rep = party.legal_representative
                    subjects.setdefault(rep.id, rep)
        found = self.checker.must_check_many(
            list(subjects.values()),
            tender.matter(self.matter_category),
            operator=operator,
            fresh=fresh,
        )
        return {d.subject.id: d for d in found}

    def _judge(
        self, bidder: Bidder, decisions: Mapping[str, Decision], override: str | None
    ) -> BidderResult:
        exclusions: list[Exclusion] = []
        strict: list[Exclusion] = []
        unverified: list[str] = []
        used: list[Decision] = []
        bonuses: list[float] = []
        for party in bidder.parties:
            role: Role = "consortium_member" if bidder.consortium else "bidder"
            checks = [(decisions[party.subject.id], role)]
            if party.legal_representative is not None:
                checks.append((decisions[party.legal_representative.id], "legal_representative"))
            for decision, who in checks:
                used.append(decision)
                if decision.outcome is Outcome.REVIEW:
                    unverified.append(decision.subject.id)
                exclusions += _exclusions(decision, party, who, ("restrict",))
                strict += _exclusions(decision, party, who, ("strict_review",))
            own = decisions[party.subject.id]
            bonuses.append(sum(m.points or 0.0 for m in _measures(own, ("bonus_points",))))
        status: Status = "admitted"
        if exclusions and override is None:
            status = "excluded"
        elif unverified and override is None:
            status = "review"
        # Black overrides red (§三(二) beside §二(三)): a bid admitted only because its
        # exclusion was overridden, or whose parties face a strict review, earns no credit
        # bonus, whichever party's check the punishment came from.
        clean = not exclusions and not strict
        bonus = (
            min(self.max_bonus, min(bonuses)) if status == "admitted" and clean and bonuses else 0.0
        )
        return BidderResult(
            bidder=bidder,
            status=status,
            bonus_points=bonus,
            exclusions=tuple(exclusions),
            strict_review=tuple(strict),
            unverified=tuple(unverified),
            decisions=tuple(dict.fromkeys(used)),
            override_reason=override,
        )

    def _record(self, results: Sequence[BidderResult], operator: str | None) -> list[str]:
        """One action per check: what the screening did with its measures."""
        done: set[str] = set()
        action_ids: list[str] = []
        for result in results:
            for decision in result.decisions:
                if decision.check_id in done or decision.outcome is Outcome.REVIEW:
                    continue  # a review outcome waits for the person's check
                done.add(decision.check_id)
                punish = _measures(decision, ("restrict", "strict_review"))
                ids = [m.id for m in punish]
                if result.override_reason is not None and punish:
                    mandatory = any(m.mandatory for m in punish)
                    action_ids.append(
                        self.checker.record_action(
                            decision.check_id,
                            "overridden" if mandatory else "not_applied",
                            measure_ids=ids,
                            reason=result.override_reason,
                            operator=operator,
                        )
                    )
                    continue
                if result.bonus_points > 0:
                    ids += [m.id for m in _measures(decision, ("bonus_points",))]
                action_ids.append(
                    self.checker.record_action(
                        decision.check_id, "applied", measure_ids=ids, operator=operator
                    )
                )
        return action_ids
