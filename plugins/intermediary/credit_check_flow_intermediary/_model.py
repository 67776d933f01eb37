"""What the intermediary flow takes (the project, the candidate providers) and gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rich.table import Table

from credit_check_sdk import Decision, Matter, Reason, Subject
from credit_check_sdk._ids import mask_id  # ids shown to people are masked as the SDK does
from credit_check_sdk.arguments import NAME_TEXT, check_number, check_text

__all__ = [
    "Candidate",
    "CandidateResult",
    "Exclusion",
    "Project",
    "Rule",
    "Selection",
    "Status",
]

#: How the provider is chosen among the eligible: ``random`` (随机抽取) or ``ranked``
#: (by the candidates' ``score``, highest first: 比选、择优).
Rule = Literal["random", "ranked"]
Status = Literal["eligible", "excluded", "review"]
STATUS_ZH = {"eligible": "符合条件", "excluded": "排除", "review": "待人工核查"}
RULE_ZH = {"random": "随机抽取", "ranked": "择优排序"}


@dataclass(frozen=True)
class Project:
    """The project that needs an intermediary service (评估、检测、设计、代理 …).

    >>> Project("ZJ-2026-015", title="某道路工程环境影响评价").matter().category
    'intermediary'
    """

    code: str
    title: str | None = None
    case_id: str | None = None

    def __post_init__(self) -> None:
        check_text(self.code, "code")
        check_text(self.title, "title", max_length=NAME_TEXT, optional=True)
        check_text(self.case_id, "case_id", optional=True)

    def matter(self) -> Matter:
        """The matter each check is made for (``intermediary``)."""
        return Matter("intermediary", code=self.code, case_id=self.case_id)


@dataclass(frozen=True)
class Candidate:
    """A provider registered in the intermediary supermarket (中介超市) that answered.

    ``score`` is what a ``ranked`` choice orders by (the agency's own evaluation).

    >>> Candidate("C1", "91442000MA4UJ2KQ57", name="某评估公司", score=88).score
    88.0
    """

    candidate_id: str
    subject: Subject
    name: str | None = None
    legal_representative: Subject | None = None
    score: float | None = None

    def __init__(
        self,
        candidate_id: str,
        subject: Subject | str,
        *,
        name: str | None = None,
        legal_representative: Subject | str | None = None,
        score: float | None = None,
    ) -> None:
        object.__setattr__(self, "candidate_id", check_text(candidate_id, "candidate_id"))
        object.__setattr__(self, "subject", Subject.parse(subject))
        object.__setattr__(
            self, "name", check_text(name, "name", max_length=NAME_TEXT, optional=True)
        )
        rep = None if legal_representative is None else Subject.parse(legal_representative)
        object.__setattr__(self, "legal_representative", rep)
        object.__setattr__(self, "score", None if score is None else check_number(score, "score"))

    @property
    def label(self) -> str:
        """The name when known, else the id (a person's masked)."""
        return self.name or self.subject.name or mask_id(self.subject.id, self.subject.kind)


@dataclass(frozen=True)
class Exclusion:
    """A measure that excludes a candidate, and the entries behind it."""

    subject_id: str
    role: Literal["candidate", "legal_representative"]
    measure_id: str
    title: str
    mandatory: bool
    entry_ids: tuple[str, ...]
    check_id: str
    reasons: tuple[Reason, ...] = ()

    def describe(self) -> str:
        """One line for the record (a person's id masked)."""
        who = "法定代表人 " + mask_id(self.subject_id) if self.role != "candidate" else "本机构"
        return f"{self.measure_id} {self.title} ← {', '.join(self.entry_ids) or '-'} ({who})"


@dataclass(frozen=True)
class CandidateResult:
    """One candidate: eligible (with priority), excluded (with why) or under review."""

    candidate: Candidate
    status: Status
    priority: bool = False
    incentives: tuple[str, ...] = ()
    bonus_points: float = 0.0
    exclusions: tuple[Exclusion, ...] = ()
    unverified: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()
    override_reason: str | None = None
    left_out_reason: str | None = None

    @property
    def check_ids(self) -> tuple[str, ...]:
        """The journaled checks behind this result."""
        return tuple(d.check_id for d in self.decisions)

    @property
    def reason(self) -> str:
        """Why, in one text."""
        lines = [e.describe() for e in self.exclusions]
        lines += [f"无法核验: {mask_id(s)}" for s in self.unverified]
        if self.override_reason:
            lines.append(f"经人工核查准予参加: {self.override_reason}")
        if self.left_out_reason:
            lines.append(f"经人工决定不参加: {self.left_out_reason}")
        if self.priority:
            lines.append("优先: " + ", ".join(self.incentives))
        return "\n".join(lines)


@dataclass(frozen=True)
class Selection:
    """The choice of a provider: every candidate's result, the pool, the rule, the one chosen.

    ``chosen`` is ``None`` when nobody is eligible or while a candidate waits for a
    person's check (``waiting``): a review outcome is never passed over silently.
    """

    project: Project
    rule: Rule
    results: tuple[CandidateResult, ...]
    pool: tuple[str, ...]
    chosen: CandidateResult | None
    ranking: tuple[str, ...] = ()
    action_ids: tuple[str, ...] = field(default=(), repr=False)

    def _with(self, status: Status) -> tuple[CandidateResult, ...]:
        return tuple(r for r in self.results if r.status == status)

    @property
    def eligible(self) -> tuple[CandidateResult, ...]:
        """Candidates that may be chosen."""
        return self._with("eligible")

    @property
    def excluded(self) -> tuple[CandidateResult, ...]:
        """Candidates excluded, each with the measures and entries behind it."""
        return self._with("excluded")

    @property
    def waiting(self) -> tuple[CandidateResult, ...]:
        """Candidates under review that a person has neither admitted nor left out."""
        return tuple(r for r in self._with("review") if r.left_out_reason is None)

    def result(self, candidate_id: str) -> CandidateResult:
        """The result of one candidate."""
        for r in self.results:
            if r.candidate.candidate_id == candidate_id:
                return r
        raise KeyError(candidate_id)

    @property
    def explanation(self) -> str:
        """The choice in words, as journaled with every candidate's check."""
        if self.waiting:
            ids = ", ".join(r.candidate.candidate_id for r in self.waiting)
            return f"{ids} 信用信息无法核验，须人工核查后再选取"
        if self.chosen is None:
            return "无符合条件的中介机构"
        chosen = self.chosen.candidate.candidate_id
        pool = ", ".join(self.pool)
        priority = "（优先对象）" if self.chosen.priority else ""
        if self.rule == "random":
            return f"随机抽取：从 {len(self.pool)} 家（{pool}）中抽中 {chosen}{priority}"
        order = " > ".join(self.ranking)
        return f"择优排序：{order}，选定 {chosen}{priority}"

    def _title(self) -> str:
        title = f"中介服务机构选取 / intermediary selection — {self.project.code}"
        return f"{title} {self.project.title}" if self.project.title else title

    def render_text(self) -> str:
        """The record as plain text, one block per candidate, then the choice."""
        lines = [self._title(), f"规则 / rule: {RULE_ZH[self.rule]}"]
        for r in self.results:
            star = " ★" if self.chosen is r else ""
            lines.append(f"[{r.candidate.candidate_id}] {r.candidate.label}: "
                         f"{STATUS_ZH[r.status]}{star}")  # fmt: skip
            lines.extend(f"    {x}" for x in r.reason.splitlines())
        lines.append(self.explanation)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render_text()

    def __rich__(self) -> Table:
        """A :class:`rich.table.Table` of the record, the choice as its caption."""
        table = Table(title=self._title(), caption=self.explanation, show_lines=True)
        for name in ("编号", "中介机构", "结论", "依据"):
            table.add_column(name, overflow="fold")
        for r in self.results:
            star = " ★" if self.chosen is r else ""
            table.add_row(r.candidate.candidate_id, r.candidate.label,
                          STATUS_ZH[r.status] + star, r.reason)  # fmt: skip
        return table
