"""The licensing BPMN example runs on SpiffWorkflow to each of its five ends."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "SpiffWorkflow", reason="the BPMN example needs SpiffWorkflow (extra: examples)"
)
pytest.importorskip(
    "credit_check_flow_licensing", reason="the licensing flow plugin is not installed"
)

from credit_check_sdk import CreditChecker
from credit_check_sdk.testing import FakePlatform

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
run = importlib.import_module("examples.bpmn_licensing.run")

GREEN = "91442000MA4X00001H"
CLEAN = "91442000MA4X00002L"
PLAIN = "91442000MA4X00003P"
BLACK = "91442000MA4X00004T"
BROKEN = "91442000MA4X00005X"


def _green(fake: FakePlatform) -> dict[str, Any]:
    fake.add_entry(GREEN, "red", "integrity_model")
    return {"applicant": GREEN}


def _tolerance(fake: FakePlatform) -> dict[str, Any]:
    fake.set_record(CLEAN, record_since="2015-01-01", last_adverse_on=None)
    return {"applicant": CLEAN, "missing": ["场地证明"], "commitment_signed": True}


def _normal(fake: FakePlatform) -> dict[str, Any]:
    fake.set_record(PLAIN, record_since="2024-01-01", last_adverse_on="2025-06-01")
    return {"applicant": PLAIN}


def _restriction(fake: FakePlatform) -> dict[str, Any]:
    fake.add_entry(BLACK, "black", "court_judgment_defaulter")
    return {"applicant": BLACK}


def _review(fake: FakePlatform) -> dict[str, Any]:
    fake.malformed("not_json", path=BROKEN)  # the platform's answer cannot be used
    return {"applicant": BROKEN}


CASES: list[tuple[str, Callable[[FakePlatform], dict[str, Any]], str, str, list[str]]] = [
    ("green_channel", _green, "end_fast_track", "green_channel", ["I-LIC-GREEN"]),
    ("tolerance", _tolerance, "end_tolerance", "tolerance", ["I-LIC-TOLERANCE-CLEAN3"]),
    ("normal", _normal, "end_standard", "standard", []),
    ("restriction", _restriction, "end_strict_review", "strict_review", ["P-LIC-STRICT-REVIEW"]),
    ("review", _review, "end_manual_check", "manual_check", []),
]


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        yield platform


def test_the_bpmn_file_parses_with_its_five_ends() -> None:
    spec = run.load_spec()
    names = {t.bpmn_id for t in spec.task_specs.values() if isinstance(t, run.EndEvent)}
    assert names == set(run.END_EVENTS.values())
    assert "credit_check" in spec.task_specs
    assert "outcome_gateway" in spec.task_specs


@pytest.mark.parametrize(
    ("outcome", "arrange", "end", "mode", "measures"), CASES, ids=[c[0] for c in CASES]
)
def test_each_outcome_reaches_its_end(
    fake: FakePlatform,
    tmp_path: Path,
    outcome: str,
    arrange: Callable[[FakePlatform], dict[str, Any]],
    end: str,
    mode: str,
    measures: list[str],
) -> None:
    application = {**arrange(fake), "case_id": f"XK-{outcome}", "operator": "u-bpmn"}
    checker: CreditChecker
    with fake.checker(tmp_path / "sdk", offline=False) as checker:
        result = run.run_licensing(checker, application)
        assert result.completed
        assert result.end_event == end == run.END_EVENTS[outcome]
        checked = result.data["checked"]
        assert result.data["outcome"] == checked["outcome"] == outcome
        assert checked["mode"] == mode
        # The journal holds the check and the action the flow recorded against it.
        check = checker.journal.get(checked["check_id"])
        assert check is not None
        assert check["type"] == "check"
        assert check["outcome"] == outcome
        assert check["subject"]["id"] == application["applicant"]
        assert check["matter"]["category"] == "licensing"
        assert check["matter"]["case_id"] == f"XK-{outcome}"
        for measure_id in measures:
            assert measure_id in [m["id"] for m in check["measures"]]
        action = checker.journal.get(checked["action_id"])
        assert action is not None
        assert action["type"] == "action"
        assert action["check_id"] == checked["check_id"]
        assert action["action"] == "applied"
        assert action["operator"] == "u-bpmn"
        for measure_id in measures:
            assert measure_id in action["measure_ids"]
        if outcome == "tolerance":
            assert checked["commitment_id"]
            assert checked["commitment_due"]
            assert checked["commitment_id"] in fake.commitments
        else:
            assert checked["commitment_id"] is None
        if outcome == "review":
            assert checked["source"] == "none"
        assert checker.flush(timeout=10) == 0
    assert checked["check_id"] in fake.records
    assert checked["action_id"] in fake.records


def test_the_example_script_prints_only_its_own_lines(tmp_path: Path) -> None:
    # The script configures no logging: the SDK's warning about the broken profile
    # (the "review" case) must not reach stderr through Python's last-resort handler.
    import subprocess

    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "bpmn_licensing" / "run.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    ends = [line.split(": ", 1)[1].split()[0] for line in done.stdout.splitlines()]
    assert ends == ["green_channel", "tolerance", "normal", "restriction", "review"]
