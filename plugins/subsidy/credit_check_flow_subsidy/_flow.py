"""Review of many subsidy applications: reject the restricted, put the red-listed first, rank."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from credit_check_sdk import (
    ArgumentTypeError,
    CreditChecker,
    Decision,
    InvalidRequestError,
    Matter,
    Outcome,
    Reason,
    Subject,
)
from credit_check_sdk.arguments import (
    check_instance,
    check_iterable,
    check_reasons,
    check_text,
)

__all__ = ["ApplicationResult", "Progress", "RankKey", "SubsidyApplication", "SubsidyFlow",
           "SubsidyReview"]  # fmt: skip

Status = Literal["rejected", "priority", "eligible", "review"]
#: ``progress(done, total)``: applications reviewed so far, out of all.
Progress = Callable[[int, int], object]
#: The agency's ranking rule: a sort key over an application (ascending).
RankKey = Callable[["SubsidyApplication"], Any]

_CHUNK = 100  # applications per platform batch: at most 200 subjects with their representatives


@dataclass(frozen=True)
class SubsidyApplication:
    """One application for fiscal funds (财政性资金项目).

    ``data`` carries whatever the agency's ranking rule needs (score, amount …).

    >>> a = SubsidyApplication("SQ-1", "91442000MA4UJ2KQ57", data={"score": 88})
    >>> a.applicant.kind, a.data["score"]
    ('legal_entity', 88)
    """

    application_id: str
    applicant: Subject
    legal_representative: Subject | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        application_id: str,
        applicant: Subject | str,
        legal_representative: Subject | str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        if application_id == "":
            raise InvalidRequestError("an application needs an application_id")
        check_text(application_id, "application_id")
        if data is not None and not isinstance(data, Mapping):
            raise ArgumentTypeError("data must be a mapping", argument="data")
        rep = Subject.parse(legal_representative) if legal_representative is not None else None
        object.__setattr__(self, "application_id", application_id)
        object.__setattr__(self, "applicant", Subject.parse(applicant))
        object.__setattr__(self, "legal_representative", rep)
        object.__setattr__(self, "data", dict(data or {}))

    def __hash__(self) -> int:
        return hash(self.application_id)


@dataclass(frozen=True)
class ApplicationResult:
    """What the review decided for one application.

    ``rank`` is its place among those that go on (priority first), else ``None``.
    ``measure_ids`` and ``entry_ids`` are the measures and entries behind a
    rejection or a priority.
    """

    application: SubsidyApplication
    status: Status
    reasons: tuple[Reason, ...] = ()
    measure_ids: tuple[str, ...] = ()
    entry_ids: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()
    rank: int | None = None
    override_reason: str | None = None


@dataclass(frozen=True)
class SubsidyReview:
    """The outcome of a review: ranked applications, rejections and those left for a person."""

    results: tuple[ApplicationResult, ...]

    def _with(self, status: Status) -> tuple[ApplicationResult, ...]:
        return tuple(r for r in self.results if r.status == status)

    @property
    def ranked(self) -> tuple[ApplicationResult, ...]:
        """Applications that go on, in rank order: red-listed priority first, then the rest."""
        return tuple(sorted((r for r in self.results if r.rank), key=lambda r: r.rank or 0))

    @property
    def priority(self) -> tuple[ApplicationResult, ...]:
        """Red-listed applicants (§二(三) 优先考虑), in rank order."""
        return tuple(r for r in self.ranked if r.status == "priority")

    @property
    def rejected(self) -> tuple[ApplicationResult, ...]:
        """Applications refused under §三(二) 严格限制申请财政性资金项目, with reasons."""
        return self._with("rejected")

    @property
    def review(self) -> tuple[ApplicationResult, ...]:
        """Applications whose credit could not be verified: a person checks them."""
        return self._with("review")

    def result(self, application_id: str) -> ApplicationResult:
        """The result of one application."""
        for r in self.results:
            if r.application.application_id == application_id:
                return r
        raise KeyError(application_id)


class SubsidyFlow:
    """Credit checks of subsidy applications (财政资金补助), many at a time.

    Args:
        checker: the agency's :class:`~credit_check_sdk.CreditChecker`.
        rank_key: the agency's default ranking rule (ascending sort key); by
            default applications keep the order they were given in.

    >>> from credit_check_sdk.testing import FakePlatform
    >>> fake = FakePlatform()
    >>> _ = fake.add_entry("91442000MA4UC00019", "black", "fiscal_funds")
    >>> with fake.checker() as checker:
    ...     r = SubsidyFlow(checker).review([
    ...         SubsidyApplication("SQ-1", "91442000MA4UC00019"),
    ...         SubsidyApplication("SQ-2", "91442000MA4UJ2KQ57")])
    ...     [x.application.application_id for x in r.rejected], len(r.ranked)
    (['SQ-1'], 1)
    """

    def __init__(self, checker: CreditChecker, *, rank_key: RankKey | None = None) -> None:
        self.checker = check_instance(checker, "checker", CreditChecker)
        self.rank_key = _rank_key(rank_key)

    def review(
        self,
        applications: Iterable[SubsidyApplication],
        *,
        rank_key: RankKey | None = None,
        progress: Progress | None = None,
        operator: str | None = None,
        matter_code: str | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> SubsidyReview:
        """Check every applicant and legal representative; reject, prioritise, rank.

        Checks go to the platform in batches; ``progress(done, total)`` is
        called after each. ``rank_key`` (else the flow's) orders the
        priority group and the rest. ``overrides`` maps an application id to
        the reason for letting it go on despite a restriction (required:
        :class:`~credit_check_sdk.InvalidRequestError` otherwise, before any
        check).

        >>> r = flow.review(apps, rank_key=lambda a: -a.data["score"],
        ...                 progress=lambda done, total: print(done, total))  # doctest: +SKIP
        """
        apps = list(check_iterable(applications, "applications"))
        for app in apps:
            check_instance(app, "applications[]", SubsidyApplication)
        rank_key = _rank_key(rank_key)
        if progress is not None and not callable(progress):
            raise ArgumentTypeError("progress must be callable", argument="progress")
        check_text(operator, "operator", optional=True)
        check_text(matter_code, "matter_code", optional=True)
        overrides = check_reasons(overrides, "overrides")
        ids = [a.application_id for a in apps]
        if len(set(ids)) != len(ids):
            raise InvalidRequestError("application ids must be unique")
        for app_id, reason in overrides.items():
            if app_id not in ids:
                raise InvalidRequestError(f"override for unknown application {app_id!r}")
            if not (reason and reason.strip()):
                raise InvalidRequestError(f"the override of application {app_id} needs a reason")
        rule = rank_key or self.rank_key
        matter = Matter("subsidy", code=matter_code)
        judged: list[ApplicationResult] = []
        for start in range(0, len(apps), _CHUNK):
            chunk = apps[start : start + _CHUNK]
            decisions = self._check(chunk, matter, operator)
            for app in chunk:
                result = _judge(app, decisions, overrides.get(app.application_id))
                self._record(result, operator)
                judged.append(result)
            if progress is not None:
                progress(start + len(chunk), len(apps))
        return SubsidyReview(tuple(_rank(judged, rule)))

    def _check(
        self, apps: Sequence[SubsidyApplication], matter: Matter, operator: str | None
    ) -> dict[str, Decision]:
        subjects: dict[str, Subject] = {}
        for app in apps:
            subjects.setdefault(app.applicant.id, app.applicant)
            if app.legal_representative is not None:
                subjects.setdefault(app.legal_representative.id, app.legal_representative)
        found = self.checker.must_check_many(list(subjects.values()), matter, operator=operator)
        return {d.subject.id: d for d in found}

    def _record(self, result: ApplicationResult, operator: str | None) -> None:
        for decision in result.decisions:
            if decision.outcome is Outcome.REVIEW:
                continue  # waits for the person's check
            punish = [m for m in decision.applied if m.kind == "punishment"]
            if result.override_reason is not None and punish:
                self.checker.record_action(
                    decision.check_id,
                    "overridden" if any(m.mandatory for m in punish) else "not_applied",
                    measure_ids=[m.id for m in punish],
                    reason=result.override_reason,
                    operator=operator,
                )
                continue
            applied = [m.id for m in decision.applied if m.id in result.measure_ids]
            self.checker.record_action(
                decision.check_id, "applied", measure_ids=applied, operator=operator
            )


def _rank_key(value: RankKey | None) -> RankKey | None:
    if value is not None and not callable(value):
        raise ArgumentTypeError("rank_key must be callable", argument="rank_key")
    return value


def _judge(
    app: SubsidyApplication, decisions: Mapping[str, Decision], override: str | None
) -> ApplicationResult:
    own = decisions[app.applicant.id]
    checks = [own]
    if app.legal_representative is not None:
        checks.append(decisions[app.legal_representative.id])
    checks = list(dict.fromkeys(checks))
    restricting = [
        (d, m) for d in checks for m in d.applied if m.effect in ("restrict", "strict_review")
    ]
    if restricting and override is None:
        reasons = tuple(dict.fromkeys(r for d, _ in restricting for r in d.reasons))
        return ApplicationResult(
            app, "rejected", reasons,
            tuple(dict.fromkeys(m.id for _, m in restricting)),
            tuple(dict.fromkeys(e for _, m in restricting for e in m.entry_ids)),
            tuple(checks),
        )  # fmt: skip
    if any(d.outcome is Outcome.REVIEW for d in checks) and override is None:
        reasons = tuple(r for d in checks for r in d.reasons)
        return ApplicationResult(app, "review", reasons, decisions=tuple(checks))
    priority = [m for m in own.applied if m.effect == "priority"]
    return ApplicationResult(
        app,
        "priority" if priority else "eligible",
        own.reasons,
        tuple(m.id for m in priority),
        tuple(e for m in priority for e in m.entry_ids),
        tuple(checks),
        override_reason=override,
    )


def _rank(results: list[ApplicationResult], key: RankKey | None) -> list[ApplicationResult]:
    def order(group: list[ApplicationResult]) -> list[ApplicationResult]:
        if key is None:
            return group
        return sorted(group, key=lambda r: key(r.application))

    first = order([r for r in results if r.status == "priority"])
    rest = order([r for r in results if r.status == "eligible"])
    ranks = {id(r): n for n, r in enumerate([*first, *rest], start=1)}
    return [
        _ranked(r, ranks[id(r)]) if id(r) in ranks else r
        for r in [*first, *rest, *(r for r in results if r.status in ("rejected", "review"))]
    ]


def _ranked(result: ApplicationResult, rank: int) -> ApplicationResult:
    return replace(result, rank=rank)
