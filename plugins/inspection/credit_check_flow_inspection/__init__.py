"""日常监管与检查频次 (inspection) flow for credit-check-sdk.

Draws up a checking plan from a list of supervised subjects: each is checked
(journaled), and placed at reduced inspection (§二(四) 优化检查频次, the
trustworthy), normal, or key supervision (§三(二) 列为重点监管对象, the seriously
dishonest), with its inspections a year, the measures and entries behind it;
as plain text, a rich table, and an XLSX workbook an inspection team can use.

>>> from credit_check_sdk.testing import FakePlatform
>>> from credit_check_flow_inspection import InspectionFlow, Plan, Supervised
>>> fake = FakePlatform()
>>> _ = fake.add_entry("91442000MA4UJ2KQ57", "black", "environment")
>>> with fake.checker() as checker:
...     plan = InspectionFlow(checker).plan(Plan("JC-2027"), [Supervised("91442000MA4UJ2KQ57")])
...     [(r.level, r.frequency, r.measures) for r in plan.rows]
[('key', 4, ('P-INS-KEY-SUPERVISION 列为重点监管对象，提高检查频次',))]
"""

from ._flow import InspectionFlow
from ._model import (
    LEVELS,
    CheckingPlan,
    Frequencies,
    Level,
    Override,
    Plan,
    PlanRow,
    Supervised,
)

__all__ = [
    "LEVELS",
    "CheckingPlan",
    "Frequencies",
    "InspectionFlow",
    "Level",
    "Override",
    "Plan",
    "PlanRow",
    "Supervised",
]
