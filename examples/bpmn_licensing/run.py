"""Run the licensing BPMN process (``licensing.bpmn``) on SpiffWorkflow.

The process is plain BPMN 2.0: a start event, a script task "Credit check",
an exclusive gateway on the outcome and five end events. The script task
calls ``credit_check(...)``, a Python function this runner puts into the
script engine's environment; it runs the licensing flow plugin
(``PluginHost.load().flow("licensing")``), which checks the applicant with
``must_check`` and journals what the counter did with ``record_action``.

::

    pip install "credit-check-sdk[examples]" ./plugins/licensing
    python examples/bpmn_licensing/run.py              # all five ends against a FakePlatform
    python examples/bpmn_licensing/run.py 91442000MA4UJ2KQ57 --missing 场地证明 --commitment
                                                       # one application, CREDIT_CHECK_* settings

Embedding it::

    from examples.bpmn_licensing.run import run_licensing
    result = run_licensing(checker, {"applicant": "91442000MA4UJ2KQ57", "case_id": "XK-1"})
    result.end_event        # "end_fast_track" | "end_tolerance" | "end_standard" | ...
    result.data["checked"]  # outcome, mode, check id, action, commitment ...
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.util.task import TaskState

from credit_check_sdk import CreditChecker, Document
from credit_check_sdk.plugins import PluginHost

__all__ = ["BPMN_FILE", "END_EVENTS", "PROCESS_ID", "RunResult", "load_spec", "run_licensing"]

BPMN_FILE = Path(__file__).with_name("licensing.bpmn")
PROCESS_ID = "licensing_acceptance"
#: The end events of the process, by the outcome that leads to each.
END_EVENTS = {
    "green_channel": "end_fast_track",
    "tolerance": "end_tolerance",
    "normal": "end_standard",
    "restriction": "end_strict_review",
    "review": "end_manual_check",
}
_DEFAULTS: dict[str, Any] = {
    "matter_code": "440100-XK-001",
    "case_id": "XK-EXAMPLE-0001",
    "missing": [],
    "commitment_signed": False,
    "operator": None,
}


@dataclass(frozen=True)
class RunResult:
    """Where the process ended and the task data it ended with."""

    end_event: str  # the BPMN id of the end event reached
    end_name: str  # its name, as the diagram shows it
    data: dict[str, Any]  # the task data (``checked`` holds the flow's result)
    completed: bool


@lru_cache(maxsize=4)
def load_spec(path: Path = BPMN_FILE, process_id: str = PROCESS_ID) -> BpmnProcessSpec:
    """Parse the BPMN file (validated against the BPMN 2.0 schema) into a process spec."""
    parser = BpmnParser(validator=BpmnValidator())
    parser.add_bpmn_file(str(path))
    return parser.get_spec(process_id)


def _documents(missing: Sequence[Any]) -> tuple[Document, ...]:
    """Missing documents from task data: names, or ``{"name": …, "statutory": bool}``."""
    docs = []
    for item in missing:
        if isinstance(item, Mapping):
            docs.append(Document(str(item["name"]), statutory=bool(item.get("statutory"))))
        else:
            docs.append(Document(str(item)))
    return tuple(docs)


def credit_check_function(checker: CreditChecker, **flow_options: Any) -> Callable[..., Any]:
    """The ``credit_check(...)`` the script task calls: the licensing flow's acceptance.

    It returns plain data (the workflow keeps it in its task data): outcome,
    mode, check id, the action journaled, the commitment under tolerance, the
    measures and the reasons.
    """
    flow_cls = PluginHost.load().flow("licensing")
    flow = flow_cls(checker, **flow_options)
    application_cls = importlib.import_module(flow_cls.__module__).Application

    def credit_check(
        *,
        applicant: str,
        matter_code: str,
        case_id: str,
        missing: Sequence[Any] = (),
        commitment_signed: bool = False,
        operator: str | None = None,
    ) -> dict[str, Any]:
        application = application_cls(
            applicant,
            matter_code,
            case_id,
            missing=_documents(missing),
            commitment_signed=bool(commitment_signed),
        )
        acc = flow.accept(application, operator=operator)
        d = acc.decision
        return {
            "outcome": d.outcome.value,
            "mode": acc.mode.value,
            "accepted": acc.accepted,
            "check_id": d.check_id,
            "action": acc.action,
            "action_id": acc.action_id,
            "measure_ids": list(acc.measure_ids),
            "source": d.source,
            "degraded": d.degraded,
            "time_limit_days": acc.time_limit_days,
            "decide_by": acc.decide_by.isoformat() if acc.decide_by else None,
            "commitment_id": acc.commitment.commitment_id if acc.commitment else None,
            "commitment_due": acc.commitment.due_on.isoformat() if acc.commitment else None,
            "reasons": [{"zh": r.zh, "en": r.en} for r in d.reasons],
        }

    return credit_check


def run_licensing(
    checker: CreditChecker, application: Mapping[str, Any], **flow_options: Any
) -> RunResult:
    """Run one application through the process to its end.

    ``application`` is the start data: ``applicant`` (USCC or RIC), and
    optionally ``matter_code``, ``case_id``, ``missing`` (document names),
    ``commitment_signed`` and ``operator``. ``flow_options`` go to the
    licensing flow (``green_channel_days`` …).
    """
    engine = PythonScriptEngine(
        environment=TaskDataEnvironment(
            {"credit_check": credit_check_function(checker, **flow_options)}
        )
    )
    workflow = BpmnWorkflow(load_spec(), script_engine=engine)
    start = workflow.get_next_task(state=TaskState.READY)
    if start is None:  # pragma: no cover - a parsed process always has its start ready
        raise RuntimeError("the process has no ready start task")
    start.data.update({**_DEFAULTS, **application})
    workflow.do_engine_steps()
    ends = workflow.get_tasks(state=TaskState.COMPLETED, spec_class=EndEvent)
    if not ends:
        waiting = [t.task_spec.name for t in workflow.get_tasks(state=TaskState.READY)]
        raise RuntimeError(f"the process stopped before an end event; waiting: {waiting}")
    end = ends[-1]
    return RunResult(
        end_event=end.task_spec.bpmn_id,
        end_name=end.task_spec.bpmn_name or end.task_spec.bpmn_id,
        data=dict(end.data),
        completed=workflow.is_completed(),
    )


def _demo() -> int:
    """Every end of the process, against an in-memory fake platform."""
    from credit_check_sdk.testing import FakePlatform

    fake = FakePlatform()
    green, clean, plain, black, broken = (
        "91442000MA4X00001H",
        "91442000MA4X00002L",
        "91442000MA4X00003P",
        "91442000MA4X00004T",
        "91442000MA4X00005X",
    )
    fake.add_entry(green, "red", "integrity_model")
    fake.set_record(clean, record_since="2015-01-01", last_adverse_on=None)
    fake.set_record(plain, record_since="2024-01-01", last_adverse_on="2025-06-01")
    fake.add_entry(black, "black", "court_judgment_defaulter")
    fake.malformed("not_json", path=broken)  # no usable credit data: manual check
    cases: list[dict[str, Any]] = [
        {"applicant": green},
        {"applicant": clean, "missing": ["场地证明"], "commitment_signed": True},
        {"applicant": plain},
        {"applicant": black},
        {"applicant": broken},
    ]
    # offline=False: no local list snapshot to fall back on, so the broken profile is "review".
    with fake.checker(offline=False) as checker:
        for n, case in enumerate(cases, 1):
            result = run_licensing(checker, {**case, "case_id": f"XK-DEMO-{n:04d}"})
            checked = result.data["checked"]
            print(
                f"{case['applicant']}: {checked['outcome']:<13} -> {result.end_name} "
                f"(action {checked['action']}, check {checked['check_id'][:8]}…)"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: the demo, or one application against the configured platform."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("applicant", nargs="?", help="USCC or RIC; none: the fake-platform demo")
    parser.add_argument("--matter-code", default=_DEFAULTS["matter_code"])
    parser.add_argument("--case-id", default=_DEFAULTS["case_id"])
    parser.add_argument("--missing", action="append", default=[], help="a missing document")
    parser.add_argument("--commitment", action="store_true", help="commitment signed")
    parser.add_argument("--operator")
    args = parser.parse_args(argv)
    if args.applicant is None:
        return _demo()
    with CreditChecker() as checker:
        result = run_licensing(
            checker,
            {
                "applicant": args.applicant,
                "matter_code": args.matter_code,
                "case_id": args.case_id,
                "missing": args.missing,
                "commitment_signed": args.commitment,
                "operator": args.operator,
            },
        )
        checker.flush(timeout=10)
    print(f"end: {result.end_name} ({result.end_event})")
    for key, value in result.data["checked"].items():
        print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
