"""行政许可 (licensing) flow for credit-check-sdk.

Accepts a licence application as the credit check decides (§二(二), §三(二) of
the city's plan): green channel with a shortened time limit, tolerance
(容缺受理) against a written commitment tracked until fulfilled or breached,
standard handling, strict review with the measures for the officer, or a manual
check when the credit data could not be verified. Every acceptance journals
what the flow did against the check.

>>> from credit_check_sdk.testing import FakePlatform
>>> from credit_check_flow_licensing import Application, LicensingFlow
>>> fake = FakePlatform()
>>> fake.set_record("91442000MA4UJ2KQ57", record_since="2015-01-01", last_adverse_on=None)
>>> with fake.checker() as checker:
...     flow = LicensingFlow(checker, tolerance_days=10)
...     acc = flow.accept(Application("91442000MA4UJ2KQ57", "XK-1", "C-1",
...                                   missing=("场地证明",), commitment_signed=True))
...     acc.mode.value, acc.commitment.documents
('tolerance', ('场地证明',))
"""

from credit_check_sdk.storage import Commitment, CommitmentStatus
from credit_check_sdk.workdays import Deadline, add_working_days, is_working_day

from ._flow import Acceptance, Action, Application, LicensingFlow, Mode

__all__ = [
    "Acceptance",
    "Action",
    "Application",
    "Commitment",
    "CommitmentStatus",
    "Deadline",
    "LicensingFlow",
    "Mode",
    "add_working_days",
    "is_working_day",
]
