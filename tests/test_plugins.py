"""The plugin host: hooks called in isolation, the veto hook, flows, entry-point discovery."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import pluggy
import pytest

from credit_check_sdk import Decision, InvalidRequestError, Reason
from credit_check_sdk.plugins import PluginHost, UnknownFlowError, hookimpl
from credit_check_sdk.testing import FakePlatform

COMPANY = "91442000MA4UJ2KQ57"


@pytest.fixture
def decision(tmp_path: Path) -> Decision:
    fake = FakePlatform()
    with fake.checker(tmp_path) as checker:
        return checker.must_check(COMPANY, "licensing")


class Notes:
    @hookimpl
    def credit_check_extra_reasons(self, decision: Decision) -> list[Reason]:
        return [Reason(zh=f"本局备注：{decision.matter.category}", en="agency note")]


class Broken:
    @hookimpl
    def credit_check_extra_reasons(self) -> list[Reason]:
        raise RuntimeError("plugin bug")

    @hookimpl
    def credit_check_observe_decision(self, decision: Decision) -> None:
        raise RuntimeError("audit system down")

    @hookimpl
    def credit_check_observe_action(self, action_id: str) -> None:
        raise RuntimeError("audit system down")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    @hookimpl
    def credit_check_observe_decision(self, decision: Decision) -> None:
        self.seen.append(("decision", decision.check_id))

    @hookimpl
    def credit_check_observe_action(
        self, action_id: str, check_id: str, action: str, measure_ids: list[str]
    ) -> None:
        self.seen.append(("action", (action_id, check_id, action, measure_ids)))


class SecondApprover:
    @hookimpl
    def credit_check_review_override(self, action: str, operator: str | None) -> str | None:
        if action == "overridden" and operator != "chief":
            return "second approver required"
        return None


def _action(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "check_id": "c-1",
        "action": "overridden",
        "measure_ids": ["P-LIC-STRICT-REVIEW"],
        "reason": "公共利益",
        "operator": "clerk",
    }
    args.update(overrides)
    return args


def test_extra_reasons_appended_and_failures_isolated(
    decision: Decision, caplog: pytest.LogCaptureFixture
) -> None:
    host = PluginHost.load(entry_points=False, plugins=[Broken(), Notes()])
    with caplog.at_level(logging.ERROR, logger="credit_check_sdk.plugins"):
        annotated = host.annotate(decision)
    assert annotated.reasons[-1].zh == "本局备注：licensing"
    assert annotated.reasons[:-1] == decision.reasons
    assert (annotated.outcome, annotated.measures) == (decision.outcome, decision.measures)
    assert "Broken failed in credit_check_extra_reasons" in caplog.text


def test_annotate_without_plugins_keeps_the_object(decision: Decision) -> None:
    assert PluginHost().annotate(decision) is decision


def test_wrong_result_type_is_ignored(decision: Decision, caplog: pytest.LogCaptureFixture) -> None:
    class Sloppy:
        @hookimpl
        def credit_check_extra_reasons(self) -> Any:
            return ["not a Reason"]

    host = PluginHost.load(entry_points=False, plugins=[Sloppy()])
    assert host.extra_reasons(decision) == []
    assert "must be a list of Reason" in caplog.text


def test_observers_see_decisions_and_actions_despite_a_failing_one(decision: Decision) -> None:
    recorder = Recorder()
    host = PluginHost.load(entry_points=False, plugins=[recorder, Broken()])
    host.observe_decision(decision)
    host.observe_action(
        action_id="a-1", check_id=decision.check_id, action="applied", measure_ids=(),
        reason=None, operator="u1",
    )  # fmt: skip
    assert recorder.seen == [
        ("decision", decision.check_id),
        ("action", ("a-1", decision.check_id, "applied", [])),
    ]


def test_veto_refuses_with_invalid_request() -> None:
    host = PluginHost.load(entry_points=False, plugins=[SecondApprover()])
    with pytest.raises(InvalidRequestError, match="SecondApprover: second approver required"):
        host.review_override(**_action())
    host.review_override(**_action(operator="chief"))
    host.review_override(**_action(action="applied", reason=None))


def test_a_failing_reviewer_refuses() -> None:
    class Crashing:
        @hookimpl
        def credit_check_review_override(self) -> str | None:
            raise ConnectionError("approval service unreachable")

    host = PluginHost.load(entry_points=False, plugins=[Crashing()])
    with pytest.raises(InvalidRequestError, match=r"failed .*approval service unreachable"):
        host.review_override(**_action())


def test_implementations_are_validated_against_the_specs() -> None:
    class Typo:
        @hookimpl
        def credit_check_extra_reason(self) -> None:  # not a hook
            return None

    class WrongArgument:
        @hookimpl
        def credit_check_observe_decision(self, verdict: Any) -> None:
            return None

    host = PluginHost()
    with pytest.raises(pluggy.PluginValidationError):
        host.register(WrongArgument())
    # An unknown hook name is only found by check_pending (pluggy allows later specs).
    host.register(Typo())
    with pytest.raises(pluggy.PluginValidationError):
        host._pm.check_pending()


def test_register_names_and_unregister() -> None:
    host = PluginHost()
    assert host.register(Notes(), name="notes") == "notes"
    with pytest.raises(ValueError, match="already registered"):
        host.register(Notes(), name="notes")
    assert host.plugin_names() == ["notes"]
    host.unregister("notes")
    host.unregister("notes")
    assert host.plugin_names() == []


def test_flows_registered_in_code() -> None:
    host = PluginHost()
    host.add_flow("echo", lambda checker, **kw: (checker, kw))
    assert "echo" in host.flows()
    assert host.flow("echo")("c", x=1) == ("c", {"x": 1})
    with pytest.raises(UnknownFlowError, match="no flow 'nope'"):
        host.flow("nope")
    with pytest.raises(LookupError):
        host.flow("nope")


# -- a third-party package, installed into a throwaway environment ------------------------

_PACKAGE = {
    "pyproject.toml": """
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "zs-agency-extras"
        version = "0.1.0"

        [tool.hatch.build.targets.wheel]
        packages = ["zs_agency_extras"]

        [project.entry-points."credit_check_sdk.flows"]
        zs-demo = "zs_agency_extras:DemoFlow"

        [project.entry-points."credit_check_sdk.hooks"]
        zs-audit = "zs_agency_extras.hooks"
        zs-broken = "zs_agency_extras.missing_module"
    """,
    "zs_agency_extras/__init__.py": """
        class DemoFlow:
            def __init__(self, checker):
                self.checker = checker
    """,
    "zs_agency_extras/hooks.py": """
        from credit_check_sdk import Reason
        from credit_check_sdk.plugins import hookimpl

        @hookimpl
        def credit_check_extra_reasons(decision):
            return [Reason(zh="中山市某局：另需现场核查", en="on-site check required")]

        @hookimpl
        def credit_check_review_override(action, operator):
            if action == "overridden" and operator != "chief":
                return "second approver required"
            return None
    """,
}

_PROBE = """
import json, sys
from credit_check_sdk import InvalidRequestError
from credit_check_sdk.plugins import PluginHost
from credit_check_sdk.testing import FakePlatform

host = PluginHost.load()
flow = host.flow("zs-demo")("a checker")
with FakePlatform().checker(sys.argv[1]) as checker:
    decision = host.annotate(checker.must_check("91442000MA4UJ2KQ57", "licensing"))
try:
    host.review_override(check_id=decision.check_id, action="overridden", measure_ids=[],
                         reason="x", operator="clerk")
    refusal = None
except InvalidRequestError as exc:
    refusal = str(exc)
print(json.dumps({
    "flows": host.flows(), "plugins": host.plugin_names(), "flow_type": type(flow).__name__,
    "checker": flow.checker, "last_reason": decision.reasons[-1].zh, "refusal": refusal,
    "errors": sorted(host.load_errors),
}, ensure_ascii=False))
"""


@pytest.fixture(scope="module")
def third_party_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv that sees this one's packages and has one more package installed."""
    root = tmp_path_factory.mktemp("third-party")
    src = root / "src"
    for name, text in _PACKAGE.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    env = root / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env)],
        check=True,
    )
    python = env / "bin" / "python"
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # --system-site-packages reaches the base interpreter's packages; when the tests
    # run inside a virtualenv themselves, its packages (this SDK, pip, hatchling)
    # are reached through a .pth line that adds that site directory.
    parent_site = sysconfig.get_paths()["purelib"]
    Path(own_site, "zz_parent_site.pth").write_text(
        f"import site; site.addsitedir({parent_site!r})\n", encoding="utf-8"
    )
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", str(src)],
        check=True, capture_output=True,
    )  # fmt: skip
    return python


def test_a_third_party_package_is_discovered(third_party_env: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(third_party_env), "-c", _PROBE, str(tmp_path)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert "zs-demo" in found["flows"]
    assert found["flow_type"] == "DemoFlow"
    assert found["checker"] == "a checker"
    assert "zs-audit" in found["plugins"]
    assert found["last_reason"] == "中山市某局：另需现场核查"
    assert found["refusal"] == "override refused by zs-audit: second approver required"
    assert found["errors"] == ["credit_check_sdk.hooks:zs-broken"]


def test_the_package_is_not_visible_here() -> None:
    """The throwaway environment leaves this one alone."""
    assert "zs-demo" not in PluginHost.load().flows()


# --- wired into the checker ----------------------------------------------------------


def test_the_checker_calls_the_hooks(tmp_path: Path) -> None:
    fake = FakePlatform()
    fake.add_entry(COMPANY, "black", "court_judgment_defaulter")
    recorder = Recorder()
    host = PluginHost()
    host.register(Notes())
    host.register(recorder)
    host.register(Broken())
    host.register(SecondApprover())
    with fake.checker(tmp_path, plugins=host) as checker:
        d = checker.must_check(COMPANY, "bidding", operator="u1")
        assert d.outcome == "restriction"
        assert any(r.en == "agency note" for r in d.reasons)
        action_id = checker.record_action(d.check_id, "applied", operator="u1")
        assert recorder.seen[0] == ("decision", d.check_id)
        assert any(kind == "action" for kind, _ in recorder.seen)
        with pytest.raises(InvalidRequestError, match="override refused"):
            checker.record_action(d.check_id, "overridden", reason="urgent", operator="u1")
        # The refused override never reached the journal; the applied action did.
        actions = [
            r
            for r in checker.journal.iter_records()
            if r["type"] == "action" and r["check_id"] == d.check_id
        ]
        assert [a["id"] for a in actions] == [action_id]
