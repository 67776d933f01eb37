"""The inspection plan: what goes in (supervised subjects, the plan, overrides) and the plan
that comes out, as text, a rich table and an XLSX workbook."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from rich.table import Table

from credit_check_sdk import Decision, InvalidRequestError, Matter, Subject
from credit_check_sdk._cells import append_row  # user text as text, never a formula
from credit_check_sdk._ids import mask_id  # ids shown to people are masked as the SDK does
from credit_check_sdk.arguments import (
    LONG_TEXT,
    NAME_TEXT,
    check_choice,
    check_number,
    check_text,
)

__all__ = [
    "LEVELS",
    "CheckingPlan",
    "Frequencies",
    "Level",
    "Override",
    "Plan",
    "PlanRow",
    "Supervised",
]

#: How closely a subject is inspected: ``reduced`` (§二(四) 优化检查频次, trustworthy),
#: ``normal``, ``key`` (§三(二) 列为重点监管对象, seriously dishonest), or ``review``
#: when its credit could not be verified and a person has not yet set it.
Level = Literal["reduced", "normal", "key", "review"]
LEVELS: tuple[Level, ...] = ("reduced", "normal", "key", "review")
LEVEL_ZH = {"reduced": "优化检查", "normal": "一般", "key": "重点监管", "review": "待人工核查"}
_INSTALL_HINT = 'pip install "credit-check-sdk[report]"'


@dataclass(frozen=True)
class Frequencies:
    """Inspections a year at each level: the agency's own numbers (the plan names the
    levels, not how many inspections each means).

    >>> Frequencies().of("key"), Frequencies(key=6).of("key")
    (4, 6)
    """

    reduced: int = 1
    normal: int = 2
    key: int = 4

    def __post_init__(self) -> None:
        for name in ("reduced", "normal", "key"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequestError(f"frequency {name} must be a whole number")
            check_number(value, name, minimum=0)
        if not self.reduced <= self.normal <= self.key:
            raise InvalidRequestError("frequencies must not fall from reduced to normal to key")

    def of(self, level: Level) -> int | None:
        """The number for ``level``; ``None`` for ``review`` (a person sets it)."""
        return None if level == "review" else int(getattr(self, level))


@dataclass(frozen=True)
class Supervised:
    """One supervised subject (监管对象), with the agency's own reference for it.

    >>> Supervised("91442000MA4UJ2KQ57", name="某公司", ref="JG-001").ref
    'JG-001'
    """

    subject: Subject
    name: str | None = None
    ref: str | None = None

    def __init__(
        self, subject: Subject | str, *, name: str | None = None, ref: str | None = None
    ) -> None:
        object.__setattr__(self, "subject", Subject.parse(subject))
        object.__setattr__(
            self, "name", check_text(name, "name", max_length=NAME_TEXT, optional=True)
        )
        object.__setattr__(self, "ref", check_text(ref, "ref", optional=True))

    @property
    def key(self) -> str:
        """What overrides and results are keyed by: ``ref`` when given, else the id."""
        return self.ref or self.subject.id

    @property
    def shown_id(self) -> str:
        """The id as shown to people (a person's masked)."""
        return mask_id(self.subject.id, self.subject.kind)


@dataclass(frozen=True)
class Plan:
    """The checking plan being drawn up (检查计划).

    >>> Plan("JC-2027", title="2027年度日常检查计划").matter().category
    'inspection'
    """

    code: str
    title: str | None = None
    case_id: str | None = None

    def __post_init__(self) -> None:
        check_text(self.code, "code")
        check_text(self.title, "title", max_length=NAME_TEXT, optional=True)
        check_text(self.case_id, "case_id", optional=True)

    def matter(self) -> Matter:
        """The matter each check is made for (``inspection``)."""
        return Matter("inspection", code=self.code, case_id=self.case_id)


@dataclass(frozen=True)
class Override:
    """A person's choice of another level, and why (journaled with the check): ``normal``
    (declining a recommended key supervision, or for a subject under review once checked by
    hand) or ``key``. Never ``reduced``: that is an incentive, granted only as the decision
    applies it (a blocked one never).

    >>> Override("normal", "企业已整改到位").level
    'normal'
    """

    level: Level
    reason: str

    def __post_init__(self) -> None:
        check_choice(self.level, "level", ("normal", "key"))
        check_text(self.reason, "reason", max_length=LONG_TEXT, multiline=True)


def check_overrides(value: object, keys: list[str]) -> dict[str, Override]:
    """Overrides keyed by subject (``ref`` or id), as :class:`Override` or ``(level, reason)``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequestError("overrides must map subjects to Override(level, reason)")
    found: dict[str, Override] = {}
    for key, item in value.items():
        key = check_text(key, "overrides (a subject)")
        if key not in keys:
            raise InvalidRequestError(f"override for unknown subject {mask_id(key)}")
        if isinstance(item, tuple) and len(item) == 2:
            item = Override(*item)
        if not isinstance(item, Override):
            raise InvalidRequestError(f"the override of {mask_id(key)} is not (level, reason)")
        found[key] = item
    return found


@dataclass(frozen=True)
class PlanRow:
    """One subject in the plan: its level, inspections a year, and why."""

    subject: Supervised
    level: Level
    decided_level: Level
    frequency: int | None
    measures: tuple[str, ...]
    entry_ids: tuple[str, ...]
    decision: Decision
    basis: str
    override_reason: str | None = None

    @property
    def check_id(self) -> str:
        """The journaled check the row rests on."""
        return self.decision.check_id

    def cells(self) -> list[Any]:
        """The row as the XLSX and the table show it."""
        why = self.basis
        if self.override_reason is not None:
            why += f"\n人工调整（原为{LEVEL_ZH[self.decided_level]}）: {self.override_reason}"
        return [
            self.subject.ref or "",
            self.subject.name or self.subject.subject.name or "",
            self.subject.shown_id,
            LEVEL_ZH[self.level],
            self.frequency if self.frequency is not None else "待定",
            "\n".join(self.measures),
            ", ".join(self.entry_ids),
            why,
            self.check_id,
            self.decision.checked_at.replace(tzinfo=None, microsecond=0),
            self.decision.source,
        ]


_COLUMNS: tuple[tuple[str, str, float], ...] = (
    ("监管对象编号", "Ref", 14),
    ("名称", "Name", 30),
    ("统一社会信用代码/身份证号", "Id", 22),
    ("监管等级", "Level", 12),
    ("年度检查次数", "Inspections a year", 10),
    ("依据措施", "Measures", 34),
    ("名单条目", "Entries", 22),
    ("说明", "Why", 50),
    ("核查编号", "Check id", 38),
    ("核查时间", "Checked at", 20),
    ("数据来源", "Source", 10),
)


@dataclass(frozen=True)
class CheckingPlan:
    """The plan an inspection team uses: a row per subject, key supervision first.

    ``str(plan)`` is plain text, a :mod:`rich` console shows a table, and
    :meth:`write_xlsx` writes the workbook.
    """

    plan: Plan
    frequencies: Frequencies
    rows: tuple[PlanRow, ...]
    made_at: datetime
    action_ids: tuple[str, ...] = field(default=(), repr=False)

    def at(self, level: Level) -> tuple[PlanRow, ...]:
        """The rows at one level."""
        return tuple(r for r in self.rows if r.level == level)

    @property
    def review(self) -> tuple[PlanRow, ...]:
        """Subjects a person must set a level for before the plan is final."""
        return self.at("review")

    def row(self, key: str) -> PlanRow:
        """The row of one subject (by ``ref`` or id)."""
        for r in self.rows:
            if key in (r.subject.key, r.subject.subject.id):
                return r
        raise KeyError(key)

    @property
    def inspections(self) -> int:
        """Inspections a year the plan asks for (subjects under review not counted)."""
        return sum(r.frequency or 0 for r in self.rows)

    def _title(self) -> str:
        title = f"检查计划 / inspection plan — {self.plan.code}"
        return f"{title} {self.plan.title}" if self.plan.title else title

    def summary(self) -> str:
        """Subjects at each level and inspections a year."""
        counts = ", ".join(f"{LEVEL_ZH[lv]} {len(self.at(lv))}" for lv in LEVELS)
        return f"{counts}; 年度检查 {self.inspections} 次"

    def render_text(self) -> str:
        """The plan as plain text, one line per subject.

        >>> from datetime import datetime
        >>> print(CheckingPlan(Plan("JC-1"), Frequencies(), (), datetime(2027, 1, 4)).render_text())
        检查计划 / inspection plan — JC-1
        优化检查 0, 一般 0, 重点监管 0, 待人工核查 0; 年度检查 0 次
        """
        lines = [self._title()]
        for r in self.rows:
            c = r.cells()
            label = " ".join(x for x in (c[0], c[1], c[2]) if x)
            lines.append(f"{label}: {c[3]}, {c[4]} 次/年")
            lines.extend(f"    {x}" for x in str(c[7]).splitlines() if x)
        lines.append(self.summary())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render_text()

    def __rich__(self) -> Table:
        """A :class:`rich.table.Table` of the plan."""
        table = Table(title=self._title(), caption=self.summary(), show_lines=True)
        for zh, _, _ in _COLUMNS[:8]:
            table.add_column(zh, overflow="fold")
        for r in self.rows:
            table.add_row(*(str(v) for v in r.cells()[:8]))
        return table

    def write_xlsx(self, path: str | Path) -> Path:
        """Write the plan as an XLSX workbook: a Chinese and an English header line, a row
        per subject, every text written as text (never a formula), persons' ids masked.
        Needs openpyxl (``pip install "credit-check-sdk[report]"``).

        >>> plan.write_xlsx("jc-2027.xlsx")  # doctest: +SKIP
        PosixPath('jc-2027.xlsx')
        """
        try:
            from openpyxl import Workbook
            from openpyxl.styles import Alignment, Font
            from openpyxl.utils import get_column_letter
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(f"write_xlsx needs openpyxl: {_INSTALL_HINT}") from exc
        wb = Workbook()
        ws = wb.active
        assert ws is not None  # noqa: S101 - a new workbook has its sheet
        ws.title = "检查计划"
        append_row(ws, [zh for zh, _, _ in _COLUMNS])
        append_row(ws, [en for _, en, _ in _COLUMNS])
        for cell in (*ws[1], *ws[2]):
            cell.font = Font(bold=True)
        for i, (_, _, width) in enumerate(_COLUMNS, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        wrap = Alignment(wrap_text=True, vertical="top")
        for r in self.rows:
            append_row(ws, r.cells())
            for cell in ws[ws.max_row]:
                cell.alignment = wrap
                if isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm:ss"
        ws.freeze_panes = "A3"
        notes = wb.create_sheet("说明")
        append_row(notes, [self._title()])
        append_row(notes, [f"制表时间 {self.made_at:%Y-%m-%d %H:%M}"])
        append_row(notes, [self.summary()])
        for level in ("reduced", "normal", "key"):
            append_row(notes, [LEVEL_ZH[level], self.frequencies.of(level), "次/年"])
        target = Path(path)
        wb.save(target)
        return target
