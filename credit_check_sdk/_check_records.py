"""What one check decides and writes, before the journal: the decision, its reasons, its record.

``prepare_check`` runs the pure rules (:mod:`credit_check_sdk.decision`) on what was
found (live, cached or from the snapshot), adds the reasons a degraded decision
owes its reader (which data, how old, the agency's policy), and builds the check
record and its inputs for the journal (:class:`Prepared`). ``check_log_fields`` are
the structured fields of a check's log line; ``related_ids`` the related parties of
a profile, as a watch learns them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._check_inputs import check_inputs
from ._config import Settings
from ._fast_models import decision as fast_decision
from ._ids import mask_id
from ._models import Catalog, Decision, Matter, Outcome, Profile, Reason, Subject
from ._offline import Found
from ._record_ids import new_record_id
from ._relations import LearntRelations
from ._steps import Offload
from ._time import SHANGHAI
from ._version import __version__
from .decision import _ROLE_NAMES, Verdict, decide
from .storage._journal_core import SerialisedRecord

__all__ = ["Prepared", "PreparedInTurn", "check_log_fields", "prepare_check", "related_ids"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A decided check not yet journaled."""

    record: dict[str, Any]
    inputs: dict[str, Any]
    decision: Decision
    found: Found


def check_log_fields(decision: Decision) -> dict[str, Any]:
    """The ``extra`` of a check's log line: fields a JSON log formatter can index.

    The subject id is masked like the message (a personal id never reaches a log).
    """
    return {
        "check_id": decision.check_id,
        "subject": mask_id(decision.subject.id),
        "matter": decision.matter.category,
        "outcome": decision.outcome.value,
        "source": decision.source,
        "degraded": decision.degraded,
    }


def related_ids(profile: Profile | None) -> list[str] | None:
    return None if profile is None else [r.subject.id for r in profile.related]


def prepare_check(
    settings: Settings,
    subject: Subject,
    matter: Matter,
    catalog: Catalog,
    found: Found,
    *,
    checked_at: datetime,
    operator: str | None,
    department: str | None,
    recheck_of: str | None = None,
    serialised: bool = False,
) -> Prepared:
    """Decide, and build the check record and its inputs (nothing written yet).

    ``serialised``: the record as a ``SerialisedRecord`` (checked and serialised
    here, with its inputs, so that the journal's append only copies it).
    """
    profile = found.profile
    verdict: Verdict = decide(
        profile,
        catalog,
        matter,
        on=checked_at.date(),
        clean_years_known=found.clean_years_known,
    )
    outcome = verdict.outcome
    reasons = list(verdict.reasons)
    if found.refusal is not None:
        reasons.insert(0, found.refusal)  # a misconfiguration first: a person must act
    if found.source == "snapshot" and profile is not None:
        reasons.append(
            _snapshot_reason(
                profile.as_of.isoformat(), found.relations, feed_relations=found.feed_relations
            )
        )
        if found.relations is not None:
            reasons.append(_relations_reason(found.relations, checked_at))
    elif found.degraded and profile is not None:
        reasons.append(_stale_reason(profile.as_of.isoformat()))
    if (
        found.degraded
        and outcome is not Outcome.REVIEW
        and settings.degraded_policy.get(matter.category) == "review"
    ):
        outcome = Outcome.REVIEW
        reasons.append(_policy_reason(matter.category, verdict.outcome.value))
    check_id = new_record_id()
    dept = department if department is not None else settings.department
    data_as_of = profile.as_of if profile is not None else None
    record: dict[str, Any] = {
        "type": "check",
        "id": check_id,
        "agency_id": settings.agency_id,
        "checked_at": checked_at.isoformat(),
        "department": dept,
        "operator": operator,
        "matter": matter.ref(),
        "subject": {"id": subject.id, "kind": subject.kind},
        "outcome": outcome.value,
        "measures": [m.record() for m in verdict.measures],
        "source": found.source,
        "data_as_of": data_as_of.isoformat() if data_as_of else None,
        "recheck_of": recheck_of,
        "catalog_version": catalog.version,
        "sdk_version": __version__,
    }
    inputs = check_inputs(
        profile,
        matter,
        checked_at.date(),
        catalog.version,
        clean_years_known=found.clean_years_known,
        degraded=found.degraded,
        policy=settings.degraded_policy.get(matter.category, "default"),
        relations_as_of=(
            found.relations.as_of.isoformat() if found.relations is not None else None
        ),
        # Inputs are kept for a profile checked again from the cache, not one just fetched.
        remember=found.source != "live",
    )
    # Built from values typed and checked here: no validation to run again.
    decision = fast_decision(
        {
            "check_id": check_id,
            "subject": subject,
            "matter": matter,
            "outcome": outcome,
            "measures": verdict.measures,
            "reasons": tuple(reasons),
            "source": found.source,
            "degraded": found.degraded,
            "data_as_of": data_as_of,
            "checked_at": checked_at,
            "catalog_version": catalog.version,
            "recheck_of": recheck_of,
        }
    )
    if serialised:
        # The record is built here of JSON values only: kept as it is, not parsed back.
        record = SerialisedRecord(record, inputs, checked_at)
    return Prepared(record, inputs, decision, found)


#: Seconds the preparing waits for the request it goes alongside to be sent.
_HEAD_START = 0.002


class PreparedInTurn:
    """The checks of one ``must_check_many``, prepared a group at a time.

    ``found`` maps each subject id to what its check decides from, as answers
    arrive; :meth:`work` hands out the preparing of those found since the last
    call as an ``Offload``, which the checker runs while the platform's next
    answer is awaited (:class:`~credit_check_sdk._steps.Alongside`).
    :meth:`finish` prepares whatever is left, in the subjects' order: the work
    saves time, never decides what a check is.

    >>> from credit_check_sdk._models import Subject
    >>> turns = PreparedInTurn(lambda s, f: (s.id, f), [Subject.parse("91442000MA4UJ2KQ57")])
    >>> turns.found["91442000MA4UJ2KQ57"] = "from the cache"
    >>> turns.work().run(); turns.finish(lambda s: "nothing")
    [('91442000MA4UJ2KQ57', 'from the cache')]
    """

    def __init__(self, prepare: Callable[[Subject, Any], Any], subjects: list[Subject]) -> None:
        self._prepare = prepare
        self._subjects = subjects
        self._positions: dict[str, list[int]] = {}
        for n, subject in enumerate(subjects):
            self._positions.setdefault(subject.id, []).append(n)
        self.found: dict[str, Any] = {}
        self._handed: set[str] = set()
        self._prepared: list[Any] = [None] * len(subjects)

    def work(self) -> Offload | None:
        """Preparing the checks of the subjects found since the last call (``None``: none)."""
        group = [i for i in self.found if i not in self._handed]
        if not group:
            return None
        self._handed.update(group)
        return Offload(self._prepare_group, (group,))

    def _prepare_group(self, group: list[str]) -> None:
        # The request this work goes alongside is built and sent first: while this
        # thread holds the GIL, each of the sender's steps would wait up to the
        # interpreter's switch interval (5 ms) for it. Its answer takes longer.
        time.sleep(_HEAD_START)
        for subject_id in group:
            found = self.found[subject_id]
            for n in self._positions[subject_id]:
                self._prepared[n] = self._prepare(self._subjects[n], found)

    def finish(self, fallback: Callable[[Subject], Any]) -> list[Any]:
        """Every check, in order: those not prepared yet are now (``fallback``: not found)."""
        for n, subject in enumerate(self._subjects):
            if self._prepared[n] is None:
                found = self.found.get(subject.id)
                self._prepared[n] = self._prepare(
                    subject, found if found is not None else fallback(subject)
                )
        return self._prepared


def _snapshot_reason(
    as_of: str, learnt: LearntRelations | None = None, *, feed_relations: bool = False
) -> Reason:
    if feed_relations:
        return Reason(
            zh=f"平台暂时无法访问，依据本地名单快照（截至 {as_of}）作出降级决定；关联关系取自快照"
            "（平台变更推送），快照不含不良信用记录，不适用“连续三年无不良信用记录”类激励。平台恢复后将自动复核。",
            en=f"The platform could not answer; decided from the local list snapshot as of {as_of} "
            "(degraded), related parties as the change feed sent them. The snapshot holds no "
            "adverse records, so no clean-years incentive applies. The decision is re-checked "
            "once the platform answers.",
        )
    if learnt is None:
        return Reason(
            zh=f"平台暂时无法访问，依据本地名单快照（截至 {as_of}）作出降级决定；"
            "快照不含不良信用记录和关联人员信息，不适用“连续三年无不良信用记录”类激励。平台恢复后将自动复核。",
            en=f"The platform could not answer; decided from the local list snapshot as of {as_of} "
            "(degraded). The snapshot holds no adverse records and no related persons, so no "
            "clean-years incentive applies. The decision is re-checked once the platform answers.",
        )
    return Reason(
        zh=f"平台暂时无法访问，依据本地名单快照（截至 {as_of}）作出降级决定；快照不含不良信用记录，"
        "不适用“连续三年无不良信用记录”类激励。平台恢复后将自动复核。",
        en=f"The platform could not answer; decided from the local list snapshot as of {as_of} "
        "(degraded). The snapshot holds no adverse records, so no clean-years incentive "
        "applies. The decision is re-checked once the platform answers.",
    )


def _relations_reason(learnt: LearntRelations, checked_at: datetime) -> Reason:
    """Names the learnt relations a snapshot decision used, and how old they are."""
    day = learnt.as_of.astimezone(SHANGHAI).date().isoformat()
    days = max(0, (checked_at - learnt.as_of).days)
    if days == 0:
        age_zh, age_en = "当天", "the same day"
    else:
        age_zh, age_en = f"{days} 天前", f"{days} day{'s' if days > 1 else ''} before this check"
    people_zh = "、".join(
        f"{_ROLE_NAMES.get(r.role, (r.role,))[0]} {mask_id(r.subject_id)}" for r in learnt.relations
    )
    people_en = ", ".join(
        f"{_ROLE_NAMES.get(r.role, (r.role, r.role))[1]} {mask_id(r.subject_id)}"
        for r in learnt.relations
    )
    return Reason(
        zh=f"关联人员依据 {day} 从平台获知的关联关系（{age_zh}，来自当时的实时核查）："
        f"{people_zh}；其名单信息取自本地快照。此后关联关系如有变更，本决定无从得知。",
        en=f"Related persons are the relations as learnt from the platform on {day} "
        f"({age_en}, from a live check then): {people_en}; their list "
        "entries are from the local snapshot. A change of relations since then is not known "
        "to this decision.",
    )


def _stale_reason(as_of: str) -> Reason:
    return Reason(
        zh=f"平台暂时无法访问，依据最近缓存的信用档案（截至 {as_of}）作出降级决定；"
        "平台恢复后将自动复核。",
        en=f"The platform could not answer; decided from a recently cached profile as of {as_of} "
        "(degraded). The decision is re-checked once the platform answers.",
    )


def _policy_reason(category: str, would_be: str) -> Reason:
    return Reason(
        zh=f"本单位规定：{category} 事项不得依据降级数据作出决定（数据显示结果为 {would_be}），"
        "须人工核查后办理。",
        en=f"Agency policy: a {category} matter is never decided on degraded data (the data "
        f"available says {would_be}); a person must check before proceeding.",
    )
