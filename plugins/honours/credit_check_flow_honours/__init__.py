"""评先评优 / 荣誉称号 (honours) flow for credit-check-sdk.

Screens a list of nominees, people and organisations, for an honour (§三(二):
取消严重失信企业及其法定代表人、负责人、高级管理人员…参加评先评优资格): people
through their organisations and organisations through their people, as the
catalogue's roles say; gives each nominee a result with the reason and the
entries behind it; puts trustworthy nominees first (优先推荐) unless anything
punishes them; checks granted titles again and says which must be revoked; and
journals what it did against every check.

>>> from credit_check_sdk.testing import FakePlatform
>>> from credit_check_flow_honours import Award, HonoursFlow, Nominee
>>> fake = FakePlatform()
>>> _ = fake.add_entry("91442000MA4UJ2KQ57", "red", "integrity_model")
>>> with fake.checker() as checker:
...     s = HonoursFlow(checker).screen(Award("PY-2026-01"), [Nominee("N1", "91442000MA4UJ2KQ57")])
...     [(r.nominee.nominee_id, r.priority) for r in s.eligible]
[('N1', True)]
"""

from ._flow import HonoursFlow
from ._model import (
    ROLES,
    Award,
    Finding,
    GrantedTitle,
    Link,
    Nominee,
    NomineeResult,
    Revocation,
    Screening,
    TitleResult,
)

__all__ = [
    "ROLES",
    "Award",
    "Finding",
    "GrantedTitle",
    "HonoursFlow",
    "Link",
    "Nominee",
    "NomineeResult",
    "Revocation",
    "Screening",
    "TitleResult",
]
