"""Choosing an intermediary service provider (中介超市, §四(五)) among checked candidates."""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Mapping, Sequence
from typing import Literal

from credit_check_sdk import (
    CreditChecker,
    DecidedMeasure,
    Decision,
    InvalidRequestError,
    Outcome,
    Subject,
)
from credit_check_sdk.arguments import (
    check_choice,
    check_instance,
    check_iterable,
    check_reasons,
    check_text,
)

from ._model import (
    Candidate,
    CandidateResult,
    Exclusion,
    Project,
    Rule,
    Selection,
    Status,
)

__all__ = ["IntermediaryFlow"]

logger = logging.getLogger(__name__)

Action = Literal["applied", "not_applied", "overridden"]
_PUNISH = ("restrict", "strict_review")


def _exclusions(
    decision: Decision, role: Literal["candidate", "legal_representative"]
) -> list[Exclusion]:
    return [
        Exclusion(
            subject_id=decision.subject.id,
            role=role,
            measure_id=m.id,
            title=m.title.zh,
            mandatory=m.mandatory,
            entry_ids=m.entry_ids,
            check_id=decision.check_id,
            reasons=decision.reasons,
        )
        for m in decision.applied
        if m.kind == "punishment" and m.effect in _PUNISH
    ]


def _incentives(decision: Decision) -> list[DecidedMeasure]:
    return [m for m in decision.applied if m.effect in ("priority", "bonus_points")]


class IntermediaryFlow:
    """Credit checks when choosing an intermediary service provider (中介超市, §四(五)).

    Every candidate and its declared legal representative are checked in one batch.
    A candidate is excluded when a restricting measure applies (the default
    catalogue's ``P-INT-EXCLUDE``: its own in-force black entries or its legal
    representative's); one whose credit could not be verified waits for a person.
    Incentives the catalogue grants for the matter are applied (``priority``: the
    choice is made among the priority candidates first; ``bonus_points``: added to
    the score of a ranked choice), never one listed ``blocked`` nor for a candidate
    any punishment is triggered for. The provider is then drawn at random among the
    eligible (``rule="random"``) or the first by score (``rule="ranked"``), and the
    choice is journaled with every candidate's check.

    >>> from credit_check_sdk.testing import FakePlatform
    >>> fake = FakePlatform()
    >>> _ = fake.add_entry("91442000MA4UJ2KQ57", "black", "finance", entry_id="BL-1")
    >>> with fake.checker() as checker:
    ...     s = IntermediaryFlow(checker).select(
    ...         Project("ZJ-1"), [Candidate("C1", "91442000MA4UJ2KQ57"),
    ...                           Candidate("C2", "91442000MA4UC00019")])
    ...     s.chosen.candidate.candidate_id, s.excluded[0].exclusions[0].entry_ids
    ('C2', ('BL-1',))
    """

    matter_category = "intermediary"

    def __init__(self, checker: CreditChecker, *, rng: random.Random | None = None) -> None:
        self.checker = check_instance(checker, "checker", CreditChecker)
        # The draw uses the system's random source unless the agency passes its own
        # generator (a seeded one, say, for a draw witnesses can repeat).
        self.rng = check_instance(rng, "rng", random.Random) if rng is not None else None

    def select(
        self,
        project: Project,
        candidates: Sequence[Candidate],
        *,
        rule: Rule = "random",
        operator: str | None = None,
        overrides: Mapping[str, str] | None = None,
        leave_out: Mapping[str, str] | None = None,
    ) -> Selection:
        """Check every candidate, exclude the restricted, choose by ``rule``, journal it all.

        ``overrides`` maps a candidate id to a person's reason for admitting it
        regardless (an exclusion overridden, or a review outcome checked by hand);
        ``leave_out`` to the reason for leaving a candidate under review out. While
        a candidate under review is in neither, nobody is chosen. ``rule="ranked"``
        needs every candidate's ``score``. Bad input raises
        :class:`~credit_check_sdk.InvalidRequestError` before anything is checked.

        >>> s = flow.select(Project("ZJ-2026-015"), candidates, operator="u1")  # doctest: +SKIP
        >>> s.chosen, s.explanation  # doctest: +SKIP
        """
        check_instance(project, "project", Project)
        found = [
            check_instance(c, "candidates[]", Candidate)
            for c in check_iterable(candidates, "candidates")
        ]
        check_choice(rule, "rule", ("random", "ranked"))
        check_text(operator, "operator", optional=True)
        ids = [c.candidate_id for c in found]
        if len(set(ids)) != len(ids):
            raise InvalidRequestError("candidate ids must be unique")
        admit = check_reasons(overrides, "overrides")
        drop = check_reasons(leave_out, "leave_out")
        for what, given in (("overrides", admit), ("leave_out", drop)):
            unknown = sorted(set(given) - set(ids))
            if unknown:
                raise InvalidRequestError(f"{what} for unknown candidate(s): {', '.join(unknown)}")
        if set(admit) & set(drop):
            raise InvalidRequestError("a candidate cannot be both admitted and left out")
        if rule == "ranked":
            unscored = [c.candidate_id for c in found if c.score is None]
            if unscored:
                raise InvalidRequestError(f"a ranked choice needs a score: {', '.join(unscored)}")
        decisions = self._check(project, found, operator)
        results = [
            self._judge(c, decisions, admit.get(c.candidate_id), drop.get(c.candidate_id))
            for c in found
        ]
        selection = self._choose(project, rule, results)
        action_ids = self._record(selection, operator)
        return Selection(
            project=project,
            rule=rule,
            results=selection.results,
            pool=selection.pool,
            chosen=selection.chosen,
            ranking=selection.ranking,
            action_ids=tuple(action_ids),
        )

    # -- internals ---------------------------------------------------------------------

    def _check(
        self, project: Project, candidates: Sequence[Candidate], operator: str | None
    ) -> dict[str, Decision]:
        subjects: dict[str, Subject] = {}
        for c in candidates:
            subjects.setdefault(c.subject.id, c.subject)
            if c.legal_representative is not None:
                subjects.setdefault(c.legal_representative.id, c.legal_representative)
        found = self.checker.must_check_many(
            list(subjects.values()), project.matter(), operator=operator
        )
        return {d.subject.id: d for d in found}

    def _judge(
        self,
        candidate: Candidate,
        decisions: Mapping[str, Decision],
        admitted: str | None,
        left_out: str | None,
    ) -> CandidateResult:
        own = decisions[candidate.subject.id]
        used = [own]
        exclusions = _exclusions(own, "candidate")
        if candidate.legal_representative is not None:
            rep = decisions[candidate.legal_representative.id]
            used.append(rep)
            exclusions += _exclusions(rep, "legal_representative")
        unverified = [d.subject.id for d in used if d.outcome is Outcome.REVIEW]
        status: Status = "eligible"
        if admitted is None:
            if exclusions:
                status = "excluded"
            elif unverified:
                status = "review"
        # Black overrides red across the candidate's checks (contract v2, rule 4).
        punished = any(m.kind == "punishment" for d in used for m in d.measures)
        incentives = (
            _incentives(own) if status == "eligible" and admitted is None and not punished else []
        )
        if left_out is not None and status != "review":
            # Leaving out is for a candidate whose credit could not be verified; one that
            # was verified is excluded or eligible by its checks alone.
            logger.warning(
                "leave_out of candidate %s ignored: its credit was verified (%s)",
                candidate.candidate_id, status,
            )  # fmt: skip
        return CandidateResult(
            candidate=candidate,
            status=status,
            priority=any(m.effect == "priority" for m in incentives),
            incentives=tuple(m.id for m in incentives),
            bonus_points=sum(m.points or 0.0 for m in incentives if m.effect == "bonus_points"),
            exclusions=tuple(exclusions),
            unverified=tuple(unverified),
            decisions=tuple(dict.fromkeys(used)),
            override_reason=admitted,
            left_out_reason=left_out if status == "review" else None,
        )

    def _choose(self, project: Project, rule: Rule, results: list[CandidateResult]) -> Selection:
        eligible = [r for r in results if r.status == "eligible"]
        waiting = [r for r in results if r.status == "review" and r.left_out_reason is None]
        # Priority (优先): the choice is made among the priority candidates first.
        first = [r for r in eligible if r.priority] or eligible
        chosen: CandidateResult | None = None
        ranking: list[CandidateResult] = []
        if rule == "ranked":
            position = {id(r): n for n, r in enumerate(results)}
            ranking = sorted(
                eligible,
                key=lambda r: (not r.priority, -((r.candidate.score or 0.0) + r.bonus_points),
                               position[id(r)]),
            )  # fmt: skip
        if first and not waiting:
            if rule == "random":
                rng = self.rng if self.rng is not None else secrets.SystemRandom()
                chosen = rng.choice(first)
            else:
                chosen = ranking[0]
        elif waiting:
            logger.warning(
                "intermediary selection %s: %d candidate(s) could not be verified; nobody is "
                "chosen until a person checks them", project.code, len(waiting),
            )  # fmt: skip
        return Selection(
            project=project,
            rule=rule,
            results=tuple(results),
            pool=tuple(r.candidate.candidate_id for r in first),
            chosen=chosen,
            ranking=tuple(r.candidate.candidate_id for r in ranking),
        )

    def _record(self, selection: Selection, operator: str | None) -> list[str]:
        """One action per check, each with the choice in words: the rule, the pool and
        the one chosen. Checks waiting for a person record nothing."""
        done: set[str] = set()
        action_ids: list[str] = []
        choice = selection.explanation
        for result in selection.results:
            if result.status == "review" and result.left_out_reason is None:
                continue
            for decision in result.decisions:
                if decision.check_id in done:
                    continue
                done.add(decision.check_id)
                ids = [e.measure_id for e in result.exclusions
                       if e.check_id == decision.check_id]  # fmt: skip
                person = result.override_reason or result.left_out_reason
                if person is not None and (ids or decision.outcome is Outcome.REVIEW):
                    measures = [m for m in decision.measures if m.id in ids]
                    quiet = bool(measures) and not any(m.mandatory for m in measures)
                    action: Action = "not_applied" if quiet else "overridden"
                    action_ids.append(
                        self.checker.record_action(
                            decision.check_id, action, measure_ids=ids,
                            reason=f"{person}；{choice}", operator=operator,
                        )
                    )  # fmt: skip
                    continue
                if decision is result.decisions[0]:
                    ids += result.incentives
                action_ids.append(
                    self.checker.record_action(
                        decision.check_id, "applied", measure_ids=ids, reason=choice,
                        operator=operator,
                    )
                )  # fmt: skip
        return action_ids
