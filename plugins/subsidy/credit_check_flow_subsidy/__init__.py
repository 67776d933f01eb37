"""财政资金补助 (fiscal subsidy) flow for credit-check-sdk.

Reviews many applications at once: applicants a restricting measure applies to
— their own entries or their legal representative's — are rejected with the
reasons, red-listed applicants are marked priority (§二(三) 优先考虑), and the
rest are ranked by the agency's own rule. Every check gets an action record.

>>> from credit_check_sdk.testing import FakePlatform
>>> from credit_check_flow_subsidy import SubsidyApplication, SubsidyFlow
>>> fake = FakePlatform()
>>> _ = fake.add_entry("91442000MA4UC0002C", "red", "tax_credit_a")
>>> with fake.checker() as checker:
...     r = SubsidyFlow(checker).review([
...         SubsidyApplication("SQ-1", "91442000MA4UJ2KQ57"),
...         SubsidyApplication("SQ-2", "91442000MA4UC0002C")])
...     [(x.application.application_id, x.status, x.rank) for x in r.ranked]
[('SQ-2', 'priority', 1), ('SQ-1', 'eligible', 2)]
"""

from ._flow import (
    ApplicationResult,
    Progress,
    RankKey,
    SubsidyApplication,
    SubsidyFlow,
    SubsidyReview,
)

__all__ = [
    "ApplicationResult",
    "Progress",
    "RankKey",
    "SubsidyApplication",
    "SubsidyFlow",
    "SubsidyReview",
]
