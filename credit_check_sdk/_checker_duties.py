"""``CreditChecker``'s duties after a check: actions, disclosures (双公示), objections.

:class:`Duties` holds what an agency reports back or files after deciding:
``record_action`` (what the flow did with a check's measures), ``disclose`` (a
licensing or penalty decision to publish, posted by the background uploader) and
``file_objection`` / ``objection_status`` (a subject's objection to an entry).
``CreditChecker`` inherits it; the checks themselves stay in :mod:`._checker`.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from ._disclosures import DisclosurePoster, check_against, make_duty
from ._exceptions import InvalidArgumentError, InvalidRequestError, InvalidResponseError
from ._models import Disclosure, DisclosureReceipt, Subject
from ._record_ids import new_record_id
from ._steps import Offload, Steps
from ._time import now, today
from .arguments import LONG_TEXT, check_choice, check_text, check_texts
from .storage import DisclosureDuty, ObjectionStatus

if TYPE_CHECKING:
    from ._cache import ProfileCache
    from ._client import PlatformClient
    from ._config import Settings
    from ._uploader import Uploader
    from .plugins import PluginHost
    from .storage import JournalStore, Storage

__all__ = ["Action", "Duties"]

# What a CreditChecker does logs under one name (docs/logging.md), wherever its code lives.
logger = logging.getLogger("credit_check_sdk._checker")

Action = Literal["applied", "not_applied", "overridden"]
_ACTIONS = ("applied", "not_applied", "overridden")


class Duties:
    """Actions, disclosures and objections of :class:`~credit_check_sdk.CreditChecker` (a mixin)."""

    if TYPE_CHECKING:
        # What this part uses of the checker (set in CreditChecker.__init__).
        settings: Settings
        storage: Storage
        journal: JournalStore
        client: PlatformClient
        plugins: PluginHost
        _cache: ProfileCache
        _uploader: Uploader
        _poster: DisclosurePoster | None
        _disclosures_idle: bool
        _disclosures_added: int

        @abstractmethod
        def _ensure_open(self) -> None: ...

    # -- actions -------------------------------------------------------------------

    def record_action(
        self,
        check_id: str,
        action: Action,
        *,
        measure_ids: Sequence[str] | None = None,
        reason: str | None = None,
        operator: str | None = None,
    ) -> str:
        """Record what the flow did with a check's measures; returns the action record's id.

        ``not_applied`` and ``overridden`` need a ``reason``. ``measure_ids``
        defaults to every measure of the check.

        >>> checker.record_action(d.check_id, "applied", operator="u123")  # doctest: +SKIP
        """
        self._ensure_open()
        check_id = check_text(check_id, "check_id")
        check_choice(action, "action", _ACTIONS)
        if measure_ids is not None:
            measure_ids = check_texts(measure_ids, "measure_ids")
        reason = check_text(reason, "reason", max_length=LONG_TEXT, optional=True, multiline=True)
        operator = check_text(operator, "operator", optional=True)
        if action != "applied" and not (reason and reason.strip()):
            raise InvalidArgumentError(f"a {action} action needs a reason", argument="reason")
        check = self.journal.get(check_id)
        if check is None or check.get("type") != "check":
            raise InvalidRequestError(f"no check {check_id!r} in the journal")
        known = [m["id"] for m in check["measures"]]
        ids = list(known if measure_ids is None else measure_ids)
        unknown = sorted(set(ids) - set(known))
        if unknown:
            raise InvalidRequestError(
                f"check {check_id} has no measure {', '.join(unknown)}; "
                f"it has {', '.join(known) or 'none'}"
            )
        self.plugins.review_override(
            check_id=check_id, action=action, measure_ids=ids, reason=reason, operator=operator
        )
        action_id = new_record_id()
        self.journal.append(
            {
                "type": "action",
                "id": action_id,
                "check_id": check_id,
                "agency_id": self.settings.agency_id,
                "acted_at": now().isoformat(),
                "action": action,
                "measure_ids": ids,
                "reason": reason,
                "operator": operator,
            }
        )
        self._uploader.notify()
        self.plugins.observe_action(
            action_id=action_id,
            check_id=check_id,
            action=action,
            measure_ids=ids,
            reason=reason,
            operator=operator,
        )
        return action_id

    # -- disclosures (双公示) --------------------------------------------------------

    def disclose(
        self,
        kind: str,
        subject: Subject | str,
        decision_no: str,
        decided_on: date | str,
        title: str,
        content: Mapping[str, Any] | None = None,
        *,
        check_id: str | None = None,
    ) -> DisclosureDuty:
        """Publish a licensing or penalty decision (双公示, §四(三)); due 7 working days
        after ``decided_on``.

        ``kind`` is ``licensing`` (sent as the contract's ``licence``) or ``penalty``;
        ``decision_no`` the decision's number (文号), one disclosure per agency, kind and
        number (a repeat returns the one kept; the same number with other details
        raises :class:`InvalidRequestError`); ``decided_on`` a ``date`` (or
        ``YYYY-MM-DD``) not after today; ``content`` a JSON object published with it;
        ``check_id`` the credit check behind the decision (a check of ``subject`` in
        the journal). Every argument is checked first (:class:`InvalidArgumentError`,
        :class:`ArgumentTypeError`, :class:`InvalidSubjectError`); the disclosure is
        then on disk (``storage.disclosures``) before this returns, and the background
        uploader posts it (``POST /v1/disclosures``), again after failures, until the
        platform has it. :meth:`health` and ``credit-check disclosures pending`` show
        those not yet received; ``DisclosureDuty.state(today)`` says ``due``, ``late``
        or ``on_time``.

        >>> duty = checker.disclose("licensing", "91442000MA4UJ2KQ57", "中市监许〔2026〕1号",
        ...                         date(2026, 3, 2), "食品经营许可证核发",
        ...                         {"scope": "餐饮服务"}, check_id=d.check_id)  # doctest: +SKIP
        >>> duty.due_on  # doctest: +SKIP
        datetime.date(2026, 3, 11)
        """
        self._ensure_open()
        duty = make_duty(
            agency_id=self.settings.agency_id,
            kind=kind,
            subject=subject,
            decision_no=decision_no,
            decided_on=decided_on,
            title=title,
            content=content,
            check_id=check_id,
            today=today(),
        )
        if duty.check_id is not None:
            check_against(self.journal.get(duty.check_id), duty.check_id, duty.subject_id)
        store = self.storage.disclosures
        if not store.add(duty):
            kept = store.get(duty.disclosure_id)
            if kept is not None:
                duty = kept
        if not duty.posted:
            self._disclosures_added += 1
            self._disclosures_idle = False
            self._uploader.notify()
        logger.info(
            "disclosure %s (%s %s) kept, due %s",
            duty.disclosure_id,
            duty.kind,
            duty.decision_no,
            duty.due_on,
        )
        return duty

    def _post_disclosures(self) -> int:
        """The uploader's ``after_pass``: post the disclosures not yet received. Looks at
        the store on the first pass (those left by an earlier run), then only after a
        ``disclose()`` and while some wait, so that passes stay one query each."""
        if self._disclosures_idle:
            return 0
        if self._poster is None:
            self._poster = DisclosurePoster(self.storage.disclosures, self._send_disclosure)
        added = self._disclosures_added
        sent = self._poster()
        if not self._poster.waiting and added == self._disclosures_added:
            self._disclosures_idle = True  # a disclose() meanwhile leaves it busy
        return sent

    def _send_disclosure(self, disclosure: Disclosure) -> DisclosureReceipt:
        return self.client.disclose(disclosure, timeout=max(30.0, self.settings.timeout))

    # -- objections and commitments ------------------------------------------------

    def file_objection(self, check_id: str, entry_id: str, reason: str, submitted_by: str) -> str:
        """File a subject's objection to an entry behind a check (§五(三)); returns its id.

        While the platform verifies it, the entry is ``objection_pending`` and
        the punishment it triggers is suspended. The subject's cached profile
        is dropped so the next check sees that at once. Raises
        :class:`PlatformError` when the platform cannot take it.

        >>> oid = checker.file_objection(d.check_id, "BL-2026-000123",
        ...                              "已履行判决", submitted_by="u123")  # doctest: +SKIP
        """
        return self.client.run(self._file_objection_steps(check_id, entry_id, reason, submitted_by))

    def _file_objection_steps(
        self, check_id: str, entry_id: str, reason: str, submitted_by: str
    ) -> Steps[str]:
        """:meth:`file_objection` as steps (:mod:`._steps`), for the sync and async checkers."""
        self._ensure_open()
        check_id = check_text(check_id, "check_id")
        entry_id = check_text(entry_id, "entry_id")
        reason = check_text(reason, "reason", max_length=LONG_TEXT, multiline=True)
        submitted_by = check_text(submitted_by, "submitted_by")
        check = yield Offload(self.journal.get, (check_id,))
        if check is None or check.get("type") != "check":
            raise InvalidRequestError(f"no check {check_id!r} in the journal")
        entries = {e for m in check["measures"] for e in m["entry_ids"]}
        if entry_id not in entries:
            raise InvalidRequestError(
                f"entry {entry_id!r} is not behind check {check_id}; "
                f"its entries are {sorted(entries) or 'none'}"
            )
        subject_id = check["subject"]["id"]
        answer = yield from self.client.post_steps(
            "/v1/objections",
            {
                "subject_id": subject_id,
                "entry_id": entry_id,
                "check_id": check_id,
                "reason": reason,
                "submitted_by": submitted_by,
            },
            ok=(202, 200, 201),
        )
        objection_id = answer.get("objection_id")
        if not isinstance(objection_id, str):
            raise InvalidResponseError("objections: the answer has no objection_id")
        self._cache.drop(subject_id)
        # Local bookkeeping for the monthly report; not a journal record, never uploaded.
        yield Offload(self._keep_objection, (objection_id, check_id, entry_id, subject_id))
        logger.info("objection %s filed against %s (check %s)", objection_id, entry_id, check_id)
        return objection_id

    def _keep_objection(
        self, objection_id: str, check_id: str, entry_id: str, subject_id: str
    ) -> None:
        self.storage.objections.record(objection_id, check_id, entry_id, subject_id)

    def objection_status(self, objection_id: str) -> dict[str, Any]:
        """The objection as the platform reports it: ``status`` is verifying, upheld or rejected.

        >>> checker.objection_status(oid)["status"]  # doctest: +SKIP
        'verifying'
        """
        return self.client.run(self._objection_status_steps(objection_id))

    def _objection_status_steps(self, objection_id: str) -> Steps[dict[str, Any]]:
        """:meth:`objection_status` as steps (:mod:`._steps`)."""
        self._ensure_open()
        objection_id = check_text(objection_id, "objection_id")
        answer = yield from self.client.get_steps(f"/v1/objections/{quote(objection_id, safe='')}")
        status = answer.get("status")
        if status in ("verifying", "upheld", "rejected"):
            yield Offload(self._update_objection, (objection_id, status))
        return answer

    def _update_objection(self, objection_id: str, status: ObjectionStatus) -> None:
        self.storage.objections.update(objection_id, status)
