"""中介超市 (intermediary service supermarket) flow for credit-check-sdk.

Chooses among the candidate intermediary service providers for a project
(§四(五): 在…中介超市等事项中实行公共信用信息查询制度): every candidate and its
legal representative checked in one batch, the restricted excluded with the
measures and entries behind them, priority applied as the catalogue grants it,
the provider drawn at random among the eligible or ranked by score, and the
choice journaled with every check. A candidate whose credit could not be
verified is never passed over or chosen without a person.

>>> import random
>>> from credit_check_sdk.testing import FakePlatform
>>> from credit_check_flow_intermediary import Candidate, IntermediaryFlow, Project
>>> fake = FakePlatform()
>>> with fake.checker() as checker:
...     flow = IntermediaryFlow(checker, rng=random.Random(7))
...     s = flow.select(Project("ZJ-1"), [Candidate("C1", "91442000MA4UJ2KQ57", score=80),
...                                       Candidate("C2", "91442000MA4UC00019", score=90)],
...                     rule="ranked")
...     s.chosen.candidate.candidate_id, s.explanation
('C2', '择优排序：C2 > C1，选定 C2')
"""

from ._flow import IntermediaryFlow
from ._model import Candidate, CandidateResult, Exclusion, Project, Rule, Selection

__all__ = [
    "Candidate",
    "CandidateResult",
    "Exclusion",
    "IntermediaryFlow",
    "Project",
    "Rule",
    "Selection",
]
