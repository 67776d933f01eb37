"""政府采购 (government procurement) flow for credit-check-sdk.

Qualifies suppliers at evaluation — every consortium member and declared legal
representative included, in one batch — excludes those a restricting measure
applies to, with the measure, its legal basis and the entries behind it, checks
the chosen supplier again before the contract is signed, and journals what it
did against every check.

>>> from credit_check_sdk.testing import FakePlatform
>>> from credit_check_flow_procurement import Procurement, ProcurementFlow, Supplier
>>> with FakePlatform().checker() as checker:
...     q = ProcurementFlow(checker).evaluate(
...         Procurement("CG-2026-07"), [Supplier.single("S1", "91442000MA4UJ2KQ57")])
...     [r.supplier.supplier_id for r in q.qualified]
['S1']
"""

from ._flow import (
    Basis,
    ContractCheck,
    Member,
    Procurement,
    ProcurementFlow,
    Qualification,
    Supplier,
    SupplierResult,
)

__all__ = [
    "Basis",
    "ContractCheck",
    "Member",
    "Procurement",
    "ProcurementFlow",
    "Qualification",
    "Supplier",
    "SupplierResult",
]
