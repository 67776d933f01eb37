"""Supplier qualification: at evaluation, and again before the contract is signed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from credit_check_sdk import (
    CreditChecker,
    Decision,
    InvalidRequestError,
    Matter,
    Outcome,
    Subject,
)
from credit_check_sdk.arguments import (
    NAME_TEXT,
    check_instance,
    check_iterable,
    check_reasons,
    check_text,
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

Role = Literal["supplier", "consortium_member", "legal_representative"]
Status = Literal["qualified", "excluded", "review"]


@dataclass(frozen=True)
class Member:
    """A company supplying (alone or in a consortium), with its legal representative."""

    subject: Subject
    legal_representative: Subject | None = None

    def __init__(
        self, subject: Subject | str, legal_representative: Subject | str | None = None
    ) -> None:
        object.__setattr__(self, "subject", Subject.parse(subject))
        rep = Subject.parse(legal_representative) if legal_representative is not None else None
        object.__setattr__(self, "legal_representative", rep)


@dataclass(frozen=True)
class Supplier:
    """A supplier: one member, or a consortium (联合体) of several.

    >>> Supplier.single("S1", "91442000MA4UJ2KQ57").members[0].subject.id
    '91442000MA4UJ2KQ57'
    """

    supplier_id: str
    members: tuple[Member, ...]
    name: str | None = None

    def __post_init__(self) -> None:
        if self.supplier_id == "":
            raise InvalidRequestError("a supplier needs an id and at least one member")
        check_text(self.supplier_id, "supplier_id")
        members = tuple(check_iterable(self.members, "members"))
        for member in members:
            check_instance(member, "members[]", Member)
        object.__setattr__(self, "members", members)
        check_text(self.name, "name", max_length=NAME_TEXT, optional=True)
        if not self.members:
            raise InvalidRequestError("a supplier needs an id and at least one member")

    @classmethod
    def single(
        cls,
        supplier_id: str,
        subject: Subject | str,
        legal_representative: Subject | str | None = None,
        name: str | None = None,
    ) -> Supplier:
        """A supplier that is one company."""
        return cls(supplier_id, (Member(subject, legal_representative),), name)


@dataclass(frozen=True)
class Procurement:
    """The procurement project (采购项目)."""

    code: str
    case_id: str | None = None

    def __post_init__(self) -> None:
        check_text(self.code, "code")
        check_text(self.case_id, "case_id", optional=True)

    def matter(self) -> Matter:
        """The matter each check is made for."""
        return Matter("procurement", code=self.code, case_id=self.case_id)


@dataclass(frozen=True)
class Basis:
    """Why a supplier is excluded: the measure, its legal basis and the entries behind it."""

    subject_id: str
    role: Role
    measure_id: str
    title: str
    basis: str
    entry_ids: tuple[str, ...]
    check_id: str


@dataclass(frozen=True)
class SupplierResult:
    """One supplier's qualification."""

    supplier: Supplier
    status: Status
    basis: tuple[Basis, ...] = ()
    strict_review: tuple[Basis, ...] = ()
    unverified: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()
    override_reason: str | None = None


@dataclass(frozen=True)
class Qualification:
    """The credit qualification of every supplier at evaluation."""

    procurement: Procurement
    results: tuple[SupplierResult, ...]

    @property
    def qualified(self) -> tuple[SupplierResult, ...]:
        """Suppliers that pass."""
        return tuple(r for r in self.results if r.status == "qualified")

    @property
    def excluded(self) -> tuple[SupplierResult, ...]:
        """Suppliers excluded, each with its basis."""
        return tuple(r for r in self.results if r.status == "excluded")

    @property
    def review(self) -> tuple[SupplierResult, ...]:
        """Suppliers whose credit could not be verified."""
        return tuple(r for r in self.results if r.status == "review")


@dataclass(frozen=True)
class ContractCheck:
    """The check before signing: ``may_sign`` false means do not sign."""

    procurement: Procurement
    result: SupplierResult

    @property
    def may_sign(self) -> bool:
        """The supplier still qualifies."""
        return self.result.status == "qualified"


def _basis(decision: Decision, role: Role, effects: tuple[str, ...]) -> list[Basis]:
    return [
        Basis(
            subject_id=decision.subject.id,
            role=role,
            measure_id=m.id,
            title=m.title.zh,
            basis=m.basis,
            entry_ids=m.entry_ids,
            check_id=decision.check_id,
        )
        for m in decision.applied
        if m.effect in effects
    ]


def _suppliers(value: object) -> list[Supplier]:
    found = list(check_iterable(value, "suppliers"))
    for supplier in found:
        check_instance(supplier, "suppliers[]", Supplier)
    return found


class ProcurementFlow:
    """Credit checks in government procurement (政府采购, §三(二), §四(五)).

    >>> from credit_check_sdk.testing import FakePlatform
    >>> fake = FakePlatform()
    >>> _ = fake.add_entry("91442000MA4UJ2KQ57", "black", "major_tax_violation")
    >>> with fake.checker() as checker:
    ...     q = ProcurementFlow(checker).evaluate(
    ...         Procurement("CG-2026-07"), [Supplier.single("S1", "91442000MA4UJ2KQ57")])
    ...     [b.measure_id for b in q.excluded[0].basis]
    ['P-BID-EXCLUDE']
    """

    def __init__(self, checker: CreditChecker) -> None:
        self.checker = check_instance(checker, "checker", CreditChecker)

    def evaluate(
        self,
        procurement: Procurement,
        suppliers: Sequence[Supplier],
        *,
        operator: str | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> Qualification:
        """Qualify every supplier (members and legal representatives in one batch).

        ``overrides`` maps a supplier id to the reason for qualifying it
        regardless; an empty reason raises
        :class:`~credit_check_sdk.InvalidRequestError` before any check.

        >>> q = flow.evaluate(Procurement("CG-1"), suppliers, operator="u1")  # doctest: +SKIP
        """
        check_instance(procurement, "procurement", Procurement)
        suppliers = _suppliers(suppliers)
        check_text(operator, "operator", optional=True)
        overrides = check_reasons(overrides, "overrides")
        ids = [s.supplier_id for s in suppliers]
        if len(set(ids)) != len(ids):
            raise InvalidRequestError("supplier ids must be unique")
        for key, reason in overrides.items():
            if key not in ids:
                raise InvalidRequestError(f"override for unknown supplier {key!r}")
            if not (reason and reason.strip()):
                raise InvalidRequestError(f"the override of supplier {key} needs a reason")
        decisions = self._check(procurement, suppliers, operator)
        results = tuple(self._judge(s, decisions, overrides.get(s.supplier_id)) for s in suppliers)
        self._record(results, operator)
        return Qualification(procurement, results)

    def confirm_contract(
        self, procurement: Procurement, supplier: Supplier, *, operator: str | None = None
    ) -> ContractCheck:
        """Check the chosen supplier again before the contract is signed.

        >>> flow.confirm_contract(Procurement("CG-1"), chosen).may_sign  # doctest: +SKIP
        True
        """
        check_instance(procurement, "procurement", Procurement)
        check_instance(supplier, "supplier", Supplier)
        check_text(operator, "operator", optional=True)
        decisions = self._check(procurement, [supplier], operator, fresh=True)
        result = self._judge(supplier, decisions, None)
        self._record((result,), operator)
        return ContractCheck(procurement, result)

    def _check(
        self,
        procurement: Procurement,
        suppliers: Sequence[Supplier],
        operator: str | None,
        *,
        fresh: bool = False,
    ) -> dict[str, Decision]:
        subjects: dict[str, Subject] = {}
        for supplier in suppliers:
            for member in supplier.members:
                subjects.setdefault(member.subject.id, member.subject)
                if member.legal_representative is not None:
                    rep = member.legal_representative
                    subjects.setdefault(rep.id, rep)
        found = self.checker.must_check_many(
            list(subjects.values()), procurement.matter(), operator=operator, fresh=fresh
        )
        return {d.subject.id: d for d in found}

    @staticmethod
    def _judge(
        supplier: Supplier, decisions: Mapping[str, Decision], override: str | None
    ) -> SupplierResult:
        basis: list[Basis] = []
        strict: list[Basis] = []
        unverified: list[str] = []
        used: list[Decision] = []
        member_role: Role = "consortium_member" if len(supplier.members) > 1 else "supplier"
        for member in supplier.members:
            checks: list[tuple[Decision, Role]] = [(decisions[member.subject.id], member_role)]
            if member.legal_representative is not None:
                rep = decisions[member.legal_representative.id]
                checks.append((rep, "legal_representative"))
            for decision, role in checks:
                used.append(decision)
                if decision.outcome is Outcome.REVIEW:
                    unverified.append(decision.subject.id)
                basis += _basis(decision, role, ("restrict",))
                strict += _basis(decision, role, ("strict_review",))
        status: Status = "qualified"
        if basis and override is None:
            status = "excluded"
        elif unverified and override is None:
            status = "review"
        return SupplierResult(
            supplier, status, tuple(basis), tuple(strict), tuple(unverified),
            tuple(dict.fromkeys(used)), override,
        )  # fmt: skip

    def _record(self, results: Sequence[SupplierResult], operator: str | None) -> None:
        done: set[str] = set()
        for result in results:
            for decision in result.decisions:
                if decision.check_id in done or decision.outcome is Outcome.REVIEW:
                    continue
                done.add(decision.check_id)
                punish = [m for m in decision.applied if m.kind == "punishment"]
                ids = [m.id for m in punish]
                if result.override_reason is not None and punish:
                    action: Literal["overridden", "not_applied"] = (
                        "overridden" if any(m.mandatory for m in punish) else "not_applied"
                    )
                    self.checker.record_action(
                        decision.check_id, action, measure_ids=ids,
                        reason=result.override_reason, operator=operator,
                    )  # fmt: skip
                else:
                    self.checker.record_action(
                        decision.check_id, "applied", measure_ids=ids, operator=operator
                    )
