"""Screening nominees for an honour, and checking granted titles again (§三(二))."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from credit_check_sdk import (
    CreditChecker,
    DecidedMeasure,
    Decision,
    InvalidRequestError,
    Outcome,
    Subject,
)
from credit_check_sdk.arguments import check_instance, check_iterable, check_reasons, check_text

from ._model import (
    ROLE_ZH,
    Award,
    Finding,
    GrantedTitle,
    Nominee,
    NomineeResult,
    Revocation,
    Screening,
    Status,
    TitleResult,
    TitleStatus,
)

__all__ = ["HonoursFlow"]

logger = logging.getLogger(__name__)

Action = Literal["applied", "not_applied", "overridden"]
_PUNISH = ("restrict", "strict_review")
# §三(二) names directors and shareholders only when directly responsible for the dishonesty.
_IF_RESPONSIBLE = ("director", "shareholder")
_TITLE_STATUS: dict[Status, TitleStatus] = {
    "eligible": "keep",
    "barred": "revoke",
    "review": "review",
}


def _punishments(decision: Decision) -> list[DecidedMeasure]:
    return [m for m in decision.applied if m.kind == "punishment" and m.effect in _PUNISH]


def _finding(decision: Decision, m: DecidedMeasure, via: str, why: str) -> Finding:
    return Finding(
        subject_id=decision.subject.id,
        via=via,
        measure_id=m.id,
        title=m.title.zh,
        mandatory=m.mandatory,
        entry_ids=m.entry_ids,
        check_id=decision.check_id,
        why=why,
        reasons=decision.reasons,
    )


class HonoursFlow:
    """Credit checks for honours (荣誉称号、评先评优, §三(二)).

    A nominee is barred when the catalogue's honours punishments apply: to an
    organisation through its own entries and those of its legal representative,
    principal and directly responsible people; to a person through their own
    entries and through a seriously dishonest organisation they are the legal
    representative, principal, senior manager or directly responsible person of
    (the roles the catalogue names). The platform's relations are followed by the
    check itself; links the nomination declares are checked too. Trustworthy
    nominees get priority (优先推荐) when the catalogue grants it and nothing
    punishes them in any of their checks.

    >>> from credit_check_sdk.testing import FakePlatform
    >>> fake = FakePlatform()
    >>> fake.relate("91442000MA4UJ2KQ57", "442000199001011233", "senior_manager")
    >>> _ = fake.add_entry("91442000MA4UJ2KQ57", "black", "environment", entry_id="BL-1")
    >>> with fake.checker() as checker:
    ...     s = HonoursFlow(checker).screen(Award("PY-1"), [Nominee("N1", "442000199001011233")])
    ...     [(f.measure_id, f.entry_ids) for f in s.barred[0].bars]
    [('P-HON-EXCLUDE-PERSON', ('BL-1',))]
    """

    matter_category = "honours"

    def __init__(self, checker: CreditChecker) -> None:
        self.checker = check_instance(checker, "checker", CreditChecker)

    # -- public calls ------------------------------------------------------------------

    def screen(
        self,
        award: Award,
        nominees: Sequence[Nominee],
        *,
        operator: str | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> Screening:
        """Check every nominee and every link declared, in one batch; a result each.

        ``overrides`` maps a nominee id to the committee's reason for admitting a
        barred nominee, or one under review once a person has checked (journaled
        ``overridden``, or ``not_applied`` for recommended measures). Bad input
        raises :class:`~credit_check_sdk.InvalidRequestError` before any check.

        >>> s = flow.screen(Award("PY-2026-01"), nominees, operator="u1")  # doctest: +SKIP
        >>> [r.nominee.nominee_id for r in s.barred]  # doctest: +SKIP
        """
        check_instance(award, "award", Award)
        found = _nominees(nominees)
        check_text(operator, "operator", optional=True)
        why = _overrides(overrides, [n.nominee_id for n in found], "nominee")
        decisions = self._check(award, found, operator, fresh=False)
        results = [self._judge(n, decisions, why.get(n.nominee_id)) for n in found]
        return Screening(award, tuple(results), tuple(self._record(results, operator)))

    def revoke(
        self,
        titles: Sequence[GrantedTitle],
        *,
        operator: str | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> Revocation:
        """Check the holders of granted titles again and say which titles must be revoked
        (§三(二): 及时撤销…荣誉称号), with the check ids each decision rests on.

        The profile cache is bypassed, so a listing made since the grant counts.
        ``overrides`` maps a title id to the reason for keeping it regardless.

        >>> r = flow.revoke(granted, operator="u1")  # doctest: +SKIP
        >>> [(t.title.title_id, t.check_ids) for t in r.to_revoke]  # doctest: +SKIP
        """
        found = [
            check_instance(t, "titles[]", GrantedTitle) for t in check_iterable(titles, "titles")
        ]
        check_text(operator, "operator", optional=True)
        ids = [t.title_id for t in found]
        why = _overrides(overrides, ids, "title")
        decisions: dict[str, Decision] = {}
        by_award: dict[Award, list[Nominee]] = {}
        for title in found:
            by_award.setdefault(title.award, []).append(title.holder)
        for award, holders in by_award.items():
            decisions.update(self._check(award, holders, operator, fresh=True))
        screened = [self._judge(t.holder, decisions, why.get(t.title_id)) for t in found]
        action_ids = self._record(screened, operator)
        results = tuple(
            TitleResult(title, _TITLE_STATUS[r.status], r)
            for title, r in zip(found, screened, strict=True)
        )
        return Revocation(results, tuple(action_ids))

    # -- internals ---------------------------------------------------------------------

    def _check(
        self, award: Award, nominees: Iterable[Nominee], operator: str | None, *, fresh: bool
    ) -> dict[str, Decision]:
        subjects: dict[str, Subject] = {}
        for nominee in nominees:
            subjects.setdefault(nominee.subject.id, nominee.subject)
            for link in nominee.links:
                subjects.setdefault(link.subject.id, link.subject)
        found = self.checker.must_check_many(
            list(subjects.values()), award.matter(), operator=operator, fresh=fresh
        )
        return {d.subject.id: d for d in found}

    def _roles(self) -> tuple[set[str], set[str]]:
        """The roles through which the catalogue's honours punishments reach: from an
        organisation's people, and (``…_of``) from a person's organisations."""
        through: set[str] = set()
        for m in self.checker.catalog.measures:
            if self.matter_category in m.matters and m.kind == "punishment":
                through.update(m.trigger.roles)
        people = {r for r in through if r in ROLE_ZH}
        organisations = {r[: -len("_of")] for r in through if r.endswith("_of")}
        return people, organisations

    def _own(self, decision: Decision) -> list[DecidedMeasure]:
        """Punishments in a check triggered by the subject's own entries (a measure whose
        trigger counts the subject itself), not by those of its related parties."""
        own = {m.id for m in self.checker.catalog.measures if "subject" in m.trigger.roles}
        return [m for m in _punishments(decision) if m.id in own]

    def _judge(
        self, nominee: Nominee, decisions: Mapping[str, Decision], override: str | None
    ) -> NomineeResult:
        own = decisions[nominee.subject.id]
        used = [own] + [decisions[link.subject.id] for link in nominee.links]
        bars = [_finding(own, m, "nominee", "本人/本单位核查") for m in _punishments(own)]
        to_decide: list[Finding] = []
        people_roles, org_roles = self._roles()
        for link in nominee.links:
            linked = decisions[link.subject.id]
            role_zh = ROLE_ZH[link.role]
            if not nominee.person:
                # An organisation through one of its people: barred when the catalogue
                # names the role and the person's own entries trigger a punishment.
                if link.role in people_roles:
                    why = f"申报的{role_zh} {link.label} 有效黑名单（§三(二)）"
                    bars += [_finding(linked, m, link.role, why) for m in self._own(linked)]
                continue
            restricted = _punishments(linked)
            if not restricted:
                continue
            if link.role in org_roles:
                why = (
                    f"申报为 {link.label} 的{role_zh}，该单位被取消评先评优资格；平台未关联二者，"
                    "请人工确认（§三(二)）"
                )
            elif link.role in _IF_RESPONSIBLE:
                why = (
                    f"申报为 {link.label} 的{role_zh}，该单位被取消评先评优资格；对失信行为负有"
                    "直接责任的董事、股东取消资格（§三(二)），请人工认定"
                )
            else:
                continue
            to_decide += [_finding(linked, m, f"{link.role}_of", why) for m in restricted]
        unverified = [d.subject.id for d in used if d.outcome is Outcome.REVIEW]
        status: Status = "eligible"
        if override is None:
            if bars:
                status = "barred"
            elif to_decide or unverified:
                status = "review"
        # Black overrides red across the nominee's checks (contract v2, rule 4): no
        # priority once any punishment is triggered in any of them, applied or not.
        punished = any(m.kind == "punishment" for d in used for m in d.measures)
        priority = (
            [m.id for m in own.applied if m.effect == "priority"]
            if status == "eligible" and override is None and not punished
            else []
        )
        return NomineeResult(
            nominee=nominee,
            status=status,
            priority=bool(priority),
            priority_measures=tuple(priority),
            bars=tuple(bars),
            to_decide=tuple(to_decide) if not bars else (),
            unverified=tuple(unverified),
            decisions=tuple(dict.fromkeys(used)),
            override_reason=override,
        )

    def _record(self, results: Sequence[NomineeResult], operator: str | None) -> list[str]:
        """One action per check: what the screening did with its measures. A result under
        review records nothing: it waits for a person."""
        done: set[str] = set()
        action_ids: list[str] = []
        for result in results:
            if result.status == "review":
                continue
            findings = result.bars + result.to_decide
            for decision in result.decisions:
                if decision.check_id in done:
                    continue
                done.add(decision.check_id)
                ids = list(dict.fromkeys(f.measure_id for f in findings
                                         if f.check_id == decision.check_id))  # fmt: skip
                reason = result.override_reason
                if reason is not None and (ids or decision.outcome is Outcome.REVIEW):
                    measures = [m for m in decision.measures if m.id in ids]
                    quiet = bool(measures) and not any(m.mandatory for m in measures)
                    action: Action = "not_applied" if quiet else "overridden"
                    action_ids.append(
                        self.checker.record_action(
                            decision.check_id,
                            action,
                            measure_ids=ids,
                            reason=reason,
                            operator=operator,
                        )
                    )
                    continue
                if decision is result.decisions[0]:
                    ids += result.priority_measures
                action_ids.append(
                    self.checker.record_action(
                        decision.check_id, "applied", measure_ids=ids, operator=operator
                    )
                )
        return action_ids


def _nominees(value: object) -> list[Nominee]:
    found = [check_instance(n, "nominees[]", Nominee) for n in check_iterable(value, "nominees")]
    ids = [n.nominee_id for n in found]
    if len(set(ids)) != len(ids):
        raise InvalidRequestError("nominee ids must be unique")
    return found


def _overrides(value: object, ids: Sequence[str], what: str) -> dict[str, str]:
    checked = check_reasons(value, "overrides")
    if len(set(ids)) != len(ids):
        raise InvalidRequestError(f"{what} ids must be unique")
    unknown = sorted(set(checked) - set(ids))
    if unknown:
        raise InvalidRequestError(f"override for unknown {what}(s): {', '.join(unknown)}")
    return checked
