"""Drawing up an inspection plan from the credit checks of the supervised subjects."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Literal

from credit_check_sdk import CreditChecker, DecidedMeasure, Decision, InvalidRequestError, Outcome
from credit_check_sdk._ids import mask_id  # ids in messages are masked as the SDK does
from credit_check_sdk.arguments import check_instance, check_iterable, check_text

from ._model import (
    CheckingPlan,
    Frequencies,
    Level,
    Override,
    Plan,
    PlanRow,
    Supervised,
    check_overrides,
)

__all__ = ["InspectionFlow"]

logger = logging.getLogger(__name__)

Action = Literal["applied", "not_applied", "overridden"]
_SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
_ORDER: dict[Level, int] = {"key": 0, "review": 1, "normal": 2, "reduced": 3}


def _describe(measures: Sequence[DecidedMeasure]) -> str:
    return "; ".join(f"{m.id} {m.title.zh} ← {', '.join(m.entry_ids) or '-'}" for m in measures)


def _decide(decision: Decision) -> tuple[Level, list[DecidedMeasure], str]:
    """The level a decision gives, the measures it rests on, and why in words."""
    if decision.outcome is Outcome.REVIEW:
        return "review", [], "信用信息无法核验：由人工核查后确定检查频次"
    blocked = [m for m in decision.measures if m.status == "blocked"]
    blocked_note = (
        ["失信惩戒优先，不予优化检查: " + ", ".join(m.id for m in blocked)] if blocked else []
    )
    key = [m for m in decision.applied if m.kind == "punishment"]
    if key:
        why = "严重失信主体，列为重点监管对象（§三(二)）"
        return "key", key, "\n".join([why, *blocked_note])
    notes = []
    suspended = [m for m in decision.measures if m.status == "suspended"]
    if suspended:
        notes.append("异议核实中，暂不列为重点监管（§五(三)）: " + _describe(suspended))
    notes += blocked_note
    reduced = [m for m in decision.applied if m.effect == "reduced_inspection"]
    if reduced:
        notes.insert(0, "诚信主体，优化检查频次（§二(四)）")
        return "reduced", reduced, "\n".join(notes)
    return "normal", [], "\n".join(notes) or "无奖惩措施"


class InspectionFlow:
    """Credit checks for routine supervision (日常监管与检查频次).

    Each supervised subject is checked (journaled, matter ``inspection``) and placed
    at a level: ``key`` where a punishment applies (§三(二): 把严重失信主体列为重点
    监管对象), ``reduced`` where the catalogue's reduced-inspection incentive applies
    (§二(四): 对符合一定条件的诚信企业…优化检查频次), else ``normal``; ``review``
    when its credit could not be verified, until a person sets it. ``frequencies``
    gives the inspections a year at each level (the agency's numbers).

    >>> from credit_check_sdk.testing import FakePlatform
    >>> fake = FakePlatform()
    >>> _ = fake.add_entry("91442000MA4UJ2KQ57", "red", "tax_credit_a")
    >>> with fake.checker() as checker:
    ...     p = InspectionFlow(checker).plan(Plan("JC-2027"), [Supervised("91442000MA4UJ2KQ57")])
    ...     [(r.level, r.frequency) for r in p.rows]
    [('reduced', 1)]
    """

    matter_category = "inspection"

    def __init__(self, checker: CreditChecker, *, frequencies: Frequencies | None = None) -> None:
        self.checker = check_instance(checker, "checker", CreditChecker)
        self.frequencies = check_instance(
            frequencies if frequencies is not None else Frequencies(), "frequencies", Frequencies
        )

    def plan(
        self,
        plan: Plan,
        subjects: Sequence[Supervised],
        *,
        operator: str | None = None,
        overrides: Mapping[str, Override | tuple[str, str]] | None = None,
    ) -> CheckingPlan:
        """Check every subject in one batch and draw up the plan, key supervision first.

        ``overrides`` maps a subject (its ``ref``, else its id) to a person's
        :class:`Override`: declining a recommended key supervision, raising a subject
        to key supervision, or setting the level of one under review once checked by
        hand; journaled ``not_applied`` or ``overridden`` with the reason. Bad input
        raises :class:`~credit_check_sdk.InvalidRequestError` before any check.

        >>> p = flow.plan(Plan("JC-2027"), subjects, operator="u1")  # doctest: +SKIP
        >>> p.write_xlsx("jc-2027.xlsx")  # doctest: +SKIP
        """
        check_instance(plan, "plan", Plan)
        found = [
            check_instance(s, "subjects[]", Supervised)
            for s in check_iterable(subjects, "subjects")
        ]
        check_text(operator, "operator", optional=True)
        keys = [s.key for s in found]
        ids = [s.subject.id for s in found]
        if len(set(keys)) != len(keys) or len(set(ids)) != len(ids):
            raise InvalidRequestError("each subject may be in the plan once")
        chosen = check_overrides(overrides, keys)
        decisions = {
            d.subject.id: d
            for d in self.checker.must_check_many(
                [s.subject for s in found], plan.matter(), operator=operator
            )
        }
        rows: list[PlanRow] = []
        action_ids: list[str] = []
        for subject in found:
            row, action_id = self._row(subject, decisions[subject.subject.id],
                                       chosen.get(subject.key), operator)  # fmt: skip
            rows.append(row)
            if action_id is not None:
                action_ids.append(action_id)
        rows.sort(key=lambda r: _ORDER[r.level])
        if any(r.level == "review" for r in rows):
            logger.warning(
                "inspection plan %s: %d subject(s) could not be verified; a person sets their "
                "level", plan.code, sum(r.level == "review" for r in rows),
            )  # fmt: skip
        return CheckingPlan(
            plan, self.frequencies, tuple(rows), datetime.now(_SHANGHAI), tuple(action_ids)
        )

    def _row(
        self,
        subject: Supervised,
        decision: Decision,
        override: Override | None,
        operator: str | None,
    ) -> tuple[PlanRow, str | None]:
        decided, measures, basis = _decide(decision)
        level: Level = override.level if override is not None else decided
        ids = [m.id for m in measures]
        action_id: str | None = None
        if override is None or override.level == decided:
            if decided != "review":  # a review outcome waits for a person
                action_id = self.checker.record_action(
                    decision.check_id, "applied", measure_ids=ids, operator=operator
                )
        else:
            quiet = bool(measures) and not any(m.mandatory for m in measures)
            action: Action = "not_applied" if quiet else "overridden"
            action_id = self.checker.record_action(
                decision.check_id, action, measure_ids=ids, reason=override.reason,
                operator=operator,
            )  # fmt: skip
            logger.info(
                "inspection level of %s set to %s instead of %s",
                mask_id(subject.subject.id), level, decided,
            )  # fmt: skip
        row = PlanRow(
            subject=subject,
            level=level,
            decided_level=decided,
            frequency=self.frequencies.of(level),
            measures=tuple(f"{m.id} {m.title.zh}" for m in measures),
            entry_ids=tuple(e for m in measures for e in m.entry_ids),
            decision=decision,
            basis=basis,
            override_reason=override.reason if override is not None else None,
        )
        return row, action_id
