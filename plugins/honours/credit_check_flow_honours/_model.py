"""What the honours flow takes (nominees, their declared links, the award) and gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from rich.table import Table

from credit_check_sdk import Decision, InvalidRequestError, Matter, Reason, Subject
from credit_check_sdk._ids import mask_id  # ids shown to people are masked as the SDK does
from credit_check_sdk.arguments import (
    NAME_TEXT,
    check_choice,
    check_instance,
    check_iterable,
    check_text,
)

__all__ = [
    "ROLES",
    "Award",
    "Finding",
    "GrantedTitle",
    "Link",
    "Nominee",
    "NomineeResult",
    "Revocation",
    "Screening",
    "Status",
    "TitleResult",
]

#: The roles a person holds in an organisation, named from the organisation's side as the
#: platform names them (contract v2): 法定代表人, 主要负责人, 高级管理人员, 董事, 股东,
#: 直接责任人员, 注册执业人员.
ROLES = (
    "legal_representative",
    "principal",
    "senior_manager",
    "director",
    "shareholder",
    "responsible_person",
    "registered_practitioner",
)
ROLE_ZH = {
    "legal_representative": "法定代表人",
    "principal": "主要负责人",
    "senior_manager": "高级管理人员",
    "director": "董事",
    "shareholder": "股东",
    "responsible_person": "直接责任人员",
    "registered_practitioner": "注册执业人员",
}

Status = Literal["eligible", "barred", "review"]
STATUS_ZH = {"eligible": "可参评", "barred": "取消资格", "review": "待人工核查"}


@dataclass(frozen=True)
class Link:
    """A link the nomination declares: for a person nominee, an organisation and the
    person's ``role`` in it (their employer, say); for an organisation nominee, one of
    its people and that person's role.

    >>> Link("91442000MA4UJ2KQ57", "senior_manager").subject.kind
    'legal_entity'
    """

    subject: Subject
    role: str
    name: str | None = None

    def __init__(self, subject: Subject | str, role: str, name: str | None = None) -> None:
        object.__setattr__(self, "subject", Subject.parse(subject))
        object.__setattr__(self, "role", check_choice(role, "role", ROLES))
        object.__setattr__(
            self, "name", check_text(name, "name", max_length=NAME_TEXT, optional=True)
        )

    @property
    def label(self) -> str:
        """The name when known, else the id (a person's masked)."""
        return self.name or self.subject.name or mask_id(self.subject.id, self.subject.kind)


@dataclass(frozen=True)
class Nominee:
    """A person or organisation put forward for an honour (荣誉称号, 评先评优).

    ``links`` are what the nomination declares: a person's organisations with the role
    held in each, an organisation's legal representative, principal and so on. The
    platform's own relations are followed by the check in any case.

    >>> n = Nominee("N1", "442000199001011233", name="张三",
    ...             links=[Link("91442000MA4UJ2KQ57", "senior_manager", "某公司")])
    >>> n.subject.kind, n.links[0].role
    ('natural_person', 'senior_manager')
    """

    nominee_id: str
    subject: Subject
    name: str | None = None
    links: tuple[Link, ...] = ()

    def __init__(
        self,
        nominee_id: str,
        subject: Subject | str,
        *,
        name: str | None = None,
        links: tuple[Link, ...] | list[Link] = (),
    ) -> None:
        object.__setattr__(self, "nominee_id", check_text(nominee_id, "nominee_id"))
        object.__setattr__(self, "subject", Subject.parse(subject))
        object.__setattr__(
            self, "name", check_text(name, "name", max_length=NAME_TEXT, optional=True)
        )
        found = tuple(check_instance(x, "links[]", Link) for x in check_iterable(links, "links"))
        for link in found:
            if link.subject.id == self.subject.id:
                raise InvalidRequestError(f"nominee {nominee_id} is linked to itself")
            if link.subject.kind == self.subject.kind == "natural_person":
                raise InvalidRequestError(
                    f"nominee {nominee_id}: a person's links are organisations"
                )
        object.__setattr__(self, "links", found)

    @property
    def person(self) -> bool:
        """A natural person (else an organisation)."""
        return self.subject.kind == "natural_person"

    @property
    def label(self) -> str:
        """The name when known, else the id (a person's masked)."""
        return self.name or self.subject.name or mask_id(self.subject.id, self.subject.kind)


@dataclass(frozen=True)
class Award:
    """The honour or round of 评先评优 the nominees are screened for.

    >>> Award("PY-2026-01", title="2026年度优秀企业").matter().category
    'honours'
    """

    code: str
    title: str | None = None
    case_id: str | None = None

    def __post_init__(self) -> None:
        check_text(self.code, "code")
        check_text(self.title, "title", max_length=NAME_TEXT, optional=True)
        check_text(self.case_id, "case_id", optional=True)

    def matter(self) -> Matter:
        """The matter each check is made for (``honours``)."""
        return Matter("honours", code=self.code, case_id=self.case_id)


@dataclass(frozen=True)
class Finding:
    """A measure that bars a nominee, or asks a person to decide, and the entries behind it.

    ``via`` says whose check it is: ``nominee`` (the nominee's own, where the platform
    follows its relations), or the declared link's role (``legal_representative`` …).
    """

    subject_id: str
    via: str
    measure_id: str
    title: str
    mandatory: bool
    entry_ids: tuple[str, ...]
    check_id: str
    why: str
    reasons: tuple[Reason, ...] = ()

    def describe(self) -> str:
        """One line for the record (a person's id masked)."""
        entries = ", ".join(self.entry_ids) or "-"
        return (
            f"{self.measure_id} {self.title} ← {entries} ({mask_id(self.subject_id)}): {self.why}"
        )


@dataclass(frozen=True)
class NomineeResult:
    """One nominee's screening: status, priority, and what lies behind them.

    ``bars`` bar the nominee; ``to_decide`` need a person's judgement (a declared
    organisation that is barred itself, a director or shareholder of a seriously
    dishonest company, barred only if directly responsible); ``unverified`` are the
    subjects whose credit could not be checked.
    """

    nominee: Nominee
    status: Status
    priority: bool = False
    priority_measures: tuple[str, ...] = ()
    bars: tuple[Finding, ...] = ()
    to_decide: tuple[Finding, ...] = ()
    unverified: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()
    override_reason: str | None = None

    @property
    def check_ids(self) -> tuple[str, ...]:
        """The journaled checks behind this result."""
        return tuple(d.check_id for d in self.decisions)

    @property
    def reason(self) -> str:
        """Why, in one text: the bars, what a person decides, what could not be verified."""
        lines = [f.describe() for f in self.bars]
        lines += [f"待定: {f.describe()}" for f in self.to_decide]
        lines += [f"无法核验: {sid}" for sid in self.unverified]
        if self.override_reason:
            lines.append(f"评审决定参评: {self.override_reason}")
        if self.priority:
            lines.append("优先推荐: " + ", ".join(self.priority_measures))
        return "\n".join(lines)


def _row(result: NomineeResult, status: str) -> tuple[str, str, str, str]:
    nominee = result.nominee
    shown = mask_id(nominee.subject.id, nominee.subject.kind)
    who = f"{nominee.name}\n{shown}" if nominee.name else shown
    return nominee.nominee_id, who, status + (" (优先)" if result.priority else ""), result.reason


def _table(title: str, rows: list[tuple[str, str, str, str]], head: tuple[str, ...]) -> Table:
    table = Table(title=title, show_lines=True)
    for name in head:
        table.add_column(name)
    for row in rows:
        table.add_row(*row)
    return table


@dataclass(frozen=True)
class Screening:
    """The credit screening of every nominee for an award, as the committee's record.

    ``str(screening)`` is plain text; in a :mod:`rich` console it renders as a table.
    """

    award: Award
    results: tuple[NomineeResult, ...]
    action_ids: tuple[str, ...] = field(default=(), repr=False)

    def _with(self, status: Status) -> tuple[NomineeResult, ...]:
        return tuple(r for r in self.results if r.status == status)

    @property
    def eligible(self) -> tuple[NomineeResult, ...]:
        """Nominees who may go on, those with priority (优先推荐) first."""
        found = self._with("eligible")
        return tuple(r for r in found if r.priority) + tuple(r for r in found if not r.priority)

    @property
    def barred(self) -> tuple[NomineeResult, ...]:
        """Nominees barred, each with the measures and entries behind it."""
        return self._with("barred")

    @property
    def review(self) -> tuple[NomineeResult, ...]:
        """Nominees a person must look at before going on."""
        return self._with("review")

    def result(self, nominee_id: str) -> NomineeResult:
        """The result of one nominee."""
        for r in self.results:
            if r.nominee.nominee_id == nominee_id:
                return r
        raise KeyError(nominee_id)

    def _title(self) -> str:
        title = f"评先评优信用核查 / honours screening — {self.award.code}"
        return f"{title} {self.award.title}" if self.award.title else title

    def render_text(self) -> str:
        """The record as plain text, one block per nominee.

        >>> print(Screening(Award("PY-1"), ()).render_text())
        评先评优信用核查 / honours screening — PY-1
        可参评 0 (优先 0), 取消资格 0, 待人工核查 0
        """
        lines = [self._title()]
        for r in self.results:
            nid, _, status, reason = _row(r, STATUS_ZH[r.status])
            lines.append(f"[{nid}] {r.nominee.label}: {status}")
            lines.extend(f"    {x}" for x in reason.splitlines())
        priority = sum(1 for r in self.eligible if r.priority)
        lines.append(
            f"可参评 {len(self.eligible)} (优先 {priority}), 取消资格 {len(self.barred)}, "
            f"待人工核查 {len(self.review)}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render_text()

    def __rich__(self) -> Table:
        """A :class:`rich.table.Table` of the record."""
        rows = [_row(r, STATUS_ZH[r.status]) for r in self.results]
        return _table(self._title(), rows, ("编号", "被推荐对象", "结论", "依据"))


@dataclass(frozen=True)
class GrantedTitle:
    """An honour already granted, to check again (§三(二): 及时撤销…荣誉称号).

    >>> t = GrantedTitle("RY-2025-007", Nominee("N1", "91442000MA4UJ2KQ57"),
    ...                  Award("PY-2025"), granted_on=date(2025, 12, 1))
    >>> t.holder.subject.id
    '91442000MA4UJ2KQ57'
    """

    title_id: str
    holder: Nominee
    award: Award
    granted_on: date | None = None

    def __post_init__(self) -> None:
        check_text(self.title_id, "title_id")
        check_instance(self.holder, "holder", Nominee)
        check_instance(self.award, "award", Award)
        if self.granted_on is not None:
            check_instance(self.granted_on, "granted_on", date)


TitleStatus = Literal["keep", "revoke", "review"]
_TITLE_ZH = {"keep": "保留", "revoke": "撤销", "review": "待人工核查"}


@dataclass(frozen=True)
class TitleResult:
    """A granted title checked again: ``revoke`` with the findings and check ids, or not."""

    title: GrantedTitle
    status: TitleStatus
    screening: NomineeResult

    @property
    def check_ids(self) -> tuple[str, ...]:
        """The journaled checks the decision rests on."""
        return self.screening.check_ids

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The measures and entries that make it to be revoked (or decided by a person)."""
        return self.screening.bars + self.screening.to_decide


@dataclass(frozen=True)
class Revocation:
    """Granted titles checked again; those to ``revoke``, with their check ids."""

    results: tuple[TitleResult, ...]
    action_ids: tuple[str, ...] = field(default=(), repr=False)

    @property
    def to_revoke(self) -> tuple[TitleResult, ...]:
        """Titles that must be revoked."""
        return tuple(r for r in self.results if r.status == "revoke")

    @property
    def review(self) -> tuple[TitleResult, ...]:
        """Titles a person must look at."""
        return tuple(r for r in self.results if r.status == "review")

    def render_text(self) -> str:
        """The record as plain text, one block per title."""
        lines = ["荣誉称号信用复核 / granted titles checked again"]
        for r in self.results:
            holder = r.title.holder
            lines.append(f"[{r.title.title_id}] {holder.label}: {_TITLE_ZH[r.status]}")
            lines.extend(f"    {x}" for x in r.screening.reason.splitlines())
            lines.append("    核查: " + ", ".join(r.check_ids))
        lines.append(f"撤销 {len(self.to_revoke)}, 待人工核查 {len(self.review)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render_text()

    def __rich__(self) -> Table:
        """A :class:`rich.table.Table` of the record."""
        rows = [
            (
                r.title.title_id,
                _row(r.screening, "")[1],
                _TITLE_ZH[r.status],
                r.screening.reason + "\n核查: " + ", ".join(r.check_ids),
            )
            for r in self.results
        ]
        return _table("荣誉称号信用复核", rows, ("称号", "获得者", "结论", "依据"))
