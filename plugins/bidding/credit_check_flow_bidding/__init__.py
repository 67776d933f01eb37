"""招投标 (bidding) flow for credit-check-sdk.

Screens every bid at opening — each party, each consortium member and their
legal representatives, in one batch — excludes those a restricting measure
applies to (with the measure and the entries behind it), adds capped credit
bonus points from red-list measures, checks the winner again before award,
and journals what it did against every check.

>>> from credit_check_sdk.testing import FakePlatform
>>> from credit_check_flow_bidding import Bidder, BiddingFlow, Party, Tender
>>> fake = FakePlatform()
>>> _ = fake.add_entry("91442000MA4UJ2KQ57", "red", "tax_credit_a")
>>> with fake.checker() as checker:
...     s = BiddingFlow(checker, max_bonus=1.5).screen(
...         Tender("ZB-2026-001"), [Bidder.single("B1", "91442000MA4UJ2KQ57")])
...     [(r.bidder.bid_id, r.bonus_points) for r in s.admitted]
[('B1', 1.5)]
"""

from ._flow import (
    AwardCheck,
    Bidder,
    BidderResult,
    BiddingFlow,
    Exclusion,
    Party,
    Screening,
    Tender,
)

__all__ = [
    "AwardCheck",
    "Bidder",
    "BidderResult",
    "BiddingFlow",
    "Exclusion",
    "Party",
    "Screening",
    "Tender",
]
