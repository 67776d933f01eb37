"""The end-to-end demo (``make demo``): one working day at a city's approval halls.

Starts the sandbox platform on a free loopback port, then, through the SDK:

1. a bidding round: a court judgment defaulter is excluded, a tax-grade-A bidder
   gets bonus points;
2. a licence application accepted under tolerance (容缺受理) against a written
   commitment, recorded with the platform;
3. the licence granted and its decision disclosed (双公示): kept on disk, posted in
   the background, due 7 Chinese working days after the decision, published on time;
4. a subsidy applicant restricted because its legal representative is blacklisted;
5. nominees for an honour (评先评优): a senior manager barred through her seriously
   dishonest company, a trustworthy company put first, a director of that company
   left to a person (the plan bars directors only when directly responsible);
6. an objection (异议) filed by the excluded bidder: the punishment is suspended
   while the platform verifies it;
7. a platform outage: checks go on from the local snapshot of the lists (degraded,
   and queued for a live re-check), and from a profile fetched minutes ago (step 4's
   subsidy applicant, still restricted through its legal representative: a fresh
   cached profile, neither degraded nor re-checked); a bidder blacklisted during the
   outage is caught by the re-check once the platform is back. Each row says what
   happened to it;
8. the journal uploaded to the platform and its hash chain verified.

Steps are numbered as they run, so that a step added between two renumbers the
rest. Reasons are printed under
the note number ([1], [2] …) of the row they explain.

It stops the sandbox and leaves everything (sandbox database, SDK journal,
a summary) in the folder it names. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from credit_check_flow_bidding import Bidder, Tender
from credit_check_flow_honours import Award, Link, Nominee
from credit_check_flow_licensing import Application
from credit_check_flow_subsidy import SubsidyApplication
from credit_check_sandbox.process import SandboxProcess
from credit_check_sandbox.seed import SCENARIO_SUBJECTS
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from credit_check_sdk import CreditChecker, Decision, Document, Outcome, Settings
from credit_check_sdk._ids import mask_id
from credit_check_sdk._time import now, today
from credit_check_sdk.plugins import PluginHost

console = Console(width=120)
_steps = itertools.count(1)


def _step(title: str) -> str:
    """The next step's heading, numbered as the demo runs."""
    return f"{next(_steps)}. {title}"


def _measures(d: Decision) -> str:
    if not d.measures:
        return "-"
    lines = []
    for m in d.measures:
        points = f" +{m.points:g}" if m.points else ""
        lines.append(escape(f"{m.id} [{m.status}]{points}") + f"\n  {m.title.zh}")
    return "\n".join(lines)


def _style(outcome: str) -> str:
    return {
        "restriction": "bold red",
        "review": "bold yellow",
        "green_channel": "bold green",
        "tolerance": "bold cyan",
    }.get(outcome, "white")


Row = tuple[str, Decision, str]


def _show(title: str, rows: list[Row], *, why: Sequence[int] = ()) -> None:
    """The rows as a table; then the reasons of the rows in ``why``, each under a note
    number that the row carries ([1], [2] …), so that no reason is left unattributed."""
    notes = {i: n for n, i in enumerate(why, start=1)}
    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("申请人 / applicant", max_width=30)
    table.add_column("结果 / outcome")
    table.add_column("措施 / measures", max_width=44, overflow="fold")
    table.add_column("处理 / what happened", max_width=34, overflow="fold")
    for i, (name, d, action) in enumerate(rows):
        note = f"[{notes[i]}] " if i in notes else ""
        table.add_row(
            escape(f"{note}{name}") + f"\n{mask_id(d.subject.id, d.subject.kind)}",
            f"[{_style(d.outcome.value)}]{d.outcome.value}[/]\n({d.source})",
            _measures(d),
            escape(action),
        )
    console.print(table)
    for i, n in notes.items():
        name, d, _ = rows[i]
        console.print(escape(f"[{n}] {name}: why {d.outcome.value}"), style="bold")
        _reasons(d)


def _reasons(d: Decision) -> None:
    # The full reasons also quote each measure's basis; the demo shows what and why.
    for r in d.reasons:
        zh = r.zh.split("措施依据")[0].rstrip("。 ") + "。"
        en = r.en.split(" Basis:")[0]
        console.print(f"  • {escape(zh)}\n    [dim]{escape(en)}[/dim]")


def _how(d: Decision, settings: Settings) -> str:
    """What a decision was made from, in the words an official would use."""
    if d.source == "live":
        return "live: the platform answered"
    if d.source == "cache" and not d.degraded:
        return (
            f"fresh cache: a profile fetched under {settings.cache_ttl / 60:g} min ago; "
            "not degraded"
        )
    if d.source == "cache":
        return f"stale cache: a profile under {settings.stale_cache_age / 60:g} min old; degraded"
    if d.source == "snapshot":
        return "snapshot of the lists: degraded"
    return "no data at all: degraded"


def bidding_round(checker: CreditChecker, flows: PluginHost) -> Decision:
    tender = Tender("ZB-2026-118", case_id="ZSGC-2026-118", title="岐江公园配套道路改造工程")
    bids = [
        Bidder.single(
            "B1",
            SCENARIO_SUBJECTS["judgment_defaulter_bidder"].id,
            name=SCENARIO_SUBJECTS["judgment_defaulter_bidder"].name,
        ),
        Bidder.single(
            "B2", SCENARIO_SUBJECTS["tax_grade_a"].id, name=SCENARIO_SUBJECTS["tax_grade_a"].name
        ),
        Bidder.single(
            "B3",
            SCENARIO_SUBJECTS["clean_no_entries"].id,
            name=SCENARIO_SUBJECTS["clean_no_entries"].name,
        ),
    ]
    flow = flows.flow("bidding")(checker, max_bonus=3.0)
    screening = flow.screen(tender, bids, operator="zhang.w")
    rows = []
    excluded: Decision | None = None
    for result in screening.results:
        d = result.decisions[0]
        if result.status == "excluded":
            action = "excluded from the tender / 取消投标资格"
            excluded = excluded or next(x for x in result.decisions if x.restricted)
        elif result.bonus_points:
            action = f"admitted, +{result.bonus_points:g} credit points / 信用加分"
        else:
            action = "admitted / 准予参加"
        rows.append((result.bidder.name or result.bidder.bid_id, d, action))
    if excluded is None:
        raise SystemExit("the sandbox's judgment defaulter was not restricted: check its seed")
    shown = [i for i, (_, d, _) in enumerate(rows) if d.check_id == excluded.check_id]
    _show(_step(f"Bidding round {tender.code} / 招投标信用审查"), rows, why=shown)
    return excluded


def licence_with_tolerance(checker: CreditChecker, flows: PluginHost) -> tuple[Any, Any]:
    applicant = SCENARIO_SUBJECTS["integrity_model_clean"]
    flow = flows.flow("licensing")(checker, green_channel_days=5, tolerance_days=10)
    acceptance = flow.accept(
        Application(
            applicant.id,
            "442000-FOOD-01",
            "XK-2026-0042",
            submitted=("食品经营许可申请书", "营业执照"),
            missing=(Document("场地租赁合同 (lease contract)"),),
            commitment_signed=True,
        ),
        operator="li.m",
    )
    commitment = acceptance.commitment
    action = f"{acceptance.mode.value}: accepted, decide by {acceptance.decide_by}"
    if commitment is not None:
        action += (
            f"; commitment {commitment.commitment_id} recorded with the platform, "
            f"documents due {commitment.due_on} (10 working days)"
        )
    _show(
        _step("Licence application / 行政许可 容缺受理"),
        [(applicant.name, acceptance.decision, action)],
        why=[0],
    )
    return flow, acceptance


def licence_disclosed(checker: CreditChecker, flow: Any, acceptance: Any) -> dict[str, Any]:
    """The licence granted; its decision published (双公示) within 7 working days."""
    duty = flow.grant(
        acceptance,
        "中市监许〔2026〕42号",
        "食品经营许可证核发",
        content={"scope": "餐饮服务 (catering)", "valid_years": 5},
    )
    checker.flush(timeout=30)  # the background uploader posts it; wait for it here
    kept = checker.storage.disclosures.get(duty.disclosure_id) or duty
    state = kept.state(today())
    table = Table(title=_step("Licence disclosed / 双公示"), title_justify="left")
    table.add_column("what")
    table.add_column("value")
    table.add_row("decision / 决定文号", kept.decision_no)
    table.add_row("decided on", str(kept.decided_on))
    table.add_row("due on (7 working days)", str(kept.due_on))
    table.add_row("published on / 公示日期", str(kept.published_on or "not yet (pending)"))
    table.add_row("state", {"on_time": "on time", "late": "LATE", "due": "due"}[state])
    table.add_row("check behind it", f"{kept.check_id}")
    console.print(table)
    return {
        "disclosure_id": kept.disclosure_id,
        "due_on": kept.due_on.isoformat(),
        "published_on": kept.published_on.isoformat() if kept.published_on else None,
        "state": state,
    }


def subsidy(checker: CreditChecker, flows: PluginHost) -> None:
    applicant = SCENARIO_SUBJECTS["legal_rep_blacklisted"]
    person = SCENARIO_SUBJECTS["legal_rep_wage_arrears"]
    flow = flows.flow("subsidy")(checker)
    review = flow.review(
        [SubsidyApplication("SQ-2026-031", applicant.id, legal_representative=person.id)],
        operator="chen.y",
    )
    result = review.results[0]
    rows = [
        (
            applicant.name,
            result.decisions[0],
            f"{result.status}: restricted fiscal funds / 限制申请财政性资金 "
            f"({', '.join(result.measure_ids)})",
        )
    ]
    _show(_step("Subsidy application / 财政资金补助"), rows, why=[0])


def honours(checker: CreditChecker, flows: PluginHost) -> None:
    company = SCENARIO_SUBJECTS["dishonest_company_people"]
    manager = SCENARIO_SUBJECTS["honours_barred_manager"]
    director = SCENARIO_SUBJECTS["director_not_responsible"]
    trusted = SCENARIO_SUBJECTS["media_recommended"]
    award = Award("PY-2026-01", title="2026年度诚信示范单位和先进个人", case_id="ZS-PY-2026-01")
    nominees = [
        Nominee("N1", manager.id, name=manager.name,
                links=[Link(company.id, "senior_manager", company.name)]),
        Nominee("N2", trusted.id, name=trusted.name),
        Nominee("N3", director.id, name=director.name,
                links=[Link(company.id, "director", company.name)]),
    ]  # fmt: skip
    screening = flows.flow("honours")(checker).screen(award, nominees, operator="zhou.h")
    rows = []
    for result in screening.results:
        if result.status == "barred":
            bar = result.bars[0]
            action = f"barred / 取消评先评优资格 ({bar.measure_id} ← {', '.join(bar.entry_ids)})"
        elif result.status == "review":
            action = "to a person / 人工认定: a director is barred only if directly responsible"
        elif result.priority:
            action = "put first / 优先推荐 (" + ", ".join(result.priority_measures) + ")"
        else:
            action = "eligible / 可参评"
        rows.append((result.nominee.label, result.decisions[0], action))
    # The senior manager is barred through her company: the reasons of her row say so.
    barred = [i for i, result in enumerate(screening.results) if result.status == "barred"]
    _show(_step(f"Honours {award.code} / 评先评优信用审查"), rows, why=barred)


def objection(checker: CreditChecker, excluded: Decision) -> None:
    entry_id = excluded.applied[0].entry_ids[0]
    objection_id = checker.file_objection(
        excluded.check_id,
        entry_id,
        "判决已于上月履行完毕，申请核实 / the judgment was satisfied last month",
        submitted_by="zhang.w",
    )
    status = checker.objection_status(objection_id)["status"]
    again = checker.must_check(
        excluded.subject.id,
        excluded.matter,
        operator="zhang.w",
        department="中山市公共资源交易中心",
    )
    _show(
        _step(f"Objection {objection_id} ({status}) / 异议核实期间暂不执行惩戒"),
        [(SCENARIO_SUBJECTS["judgment_defaulter_bidder"].name, again, "punishment suspended")],
        why=[0],
    )


def outage(
    checker: CreditChecker, sandbox: SandboxProcess, changed: list[str]
) -> list[dict[str, Any]]:
    """Checks while the platform is down; returns what happened to each (for the summary)."""
    checker.sync_snapshot()
    began = now()
    sandbox.admin("PUT", "/faults", json={"outage": True})
    listed = SCENARIO_SUBJECTS["red_and_black"]
    late = SCENARIO_SUBJECTS["repaired"]
    # Blacklisted while the platform is down: the snapshot cannot know yet.
    sandbox.admin(
        "POST",
        "/entries",
        json={"subject_id": late.id, "list": "black", "category": "wage_arrears"},
    )
    decided = []
    for who in (listed, late):
        d = checker.must_check(who.id, "procurement", operator="wang.l", department="市财政局")
        decided.append((who.name, d))
    # Step 3's applicant again: its profile, fetched minutes ago, is still fresh in the
    # cache and answers without the platform (legal representative included); a
    # decision from a fresh profile is not degraded and needs no re-check.
    again = SCENARIO_SUBJECTS["legal_rep_blacklisted"]
    d = checker.must_check(again.id, "subsidy", operator="chen.y", department="市财政局")
    decided.append((again.name, d))
    # The SDK queues a degraded decision for a live re-check (and only those).
    queued = {d.check_id for _, d in decided if d.degraded and d.recheck_of is None}
    sandbox.admin("PUT", "/faults", json={"outage": False})
    checker.recheck_pending()
    rechecks = {
        r["recheck_of"]: r
        for r in checker.journal.iter_records(since=began)
        if r.get("type") == "check" and r.get("recheck_of")
    }
    rows = []
    for name, d in decided:
        what = _how(d, checker.settings)
        recheck = rechecks.get(d.check_id)
        if recheck is not None:
            was, now_outcome = d.outcome.value, recheck["outcome"]
            what += f"; re-checked live when the platform was back: {now_outcome}" + (
                f" (was {was})" if now_outcome != was else " (unchanged)"
            )
        elif d.check_id in queued:
            what += "; queued for a live re-check, not done yet"
        else:
            what += "; no re-check needed"
        rows.append((name, d, what))
    _show(
        _step("Platform outage / 平台中断期间的核查"),
        rows,
        why=range(len(rows)),
    )
    console.print(
        f"platform back: {len(rechecks)} of {len(queued)} degraded decisions re-checked live"
    )
    for line in changed:
        console.print(f"  [bold red]changed:[/] {line}")
    return [
        {
            "name": name,
            "source": d.source,
            "degraded": d.degraded,
            "queued": d.check_id in queued,
            "rechecked": d.check_id in rechecks,
        }
        for name, d, _ in rows
    ]


def upload(checker: CreditChecker, sandbox: SandboxProcess) -> dict[str, Any]:
    remaining = checker.flush(timeout=30)
    verified = checker.journal.verify()
    received = sandbox.admin(
        "GET", "/records", params={"agency_id": sandbox.app_id, "limit": 100_000}
    )
    count = len(received)
    table = Table(title=_step("Journal / 核查日志 → platform"), title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    stats = checker.upload_stats()
    for state in ("accepted", "duplicate", "pending", "rejected"):
        table.add_row(f"records {state}", str(stats.get(state, 0)))
    table.add_row("records received by the platform", str(count))
    table.add_row("hash chain", "intact" if verified.ok else "BROKEN")
    table.add_row("journal head", (checker.journal.head_hash() or "")[:16] + "…")
    console.print(table)
    return {
        "remaining": remaining,
        "stats": stats,
        "platform_count": count,
        "chain_ok": verified.ok,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="folder to leave the files in")
    parser.add_argument("--seed-size", type=int, default=2_000)
    args = parser.parse_args(argv)
    # The SDK logs through `logging`; show its warnings (masked ids and all) in the demo.
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
    )
    out = args.out or Path("demo-output") / now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    console.print(
        Panel.fit("credit-check-sdk demo: 应查必查 · 奖惩到位 · 实施情况反馈", style="bold")
    )
    with SandboxProcess(db_path=out / "sandbox.sqlite3", seed_size=args.seed_size) as sandbox:
        console.print(f"sandbox platform at {sandbox.base_url} (app id {sandbox.app_id})\n")
        changed: list[str] = []

        def on_changed(original_id: str, was: Outcome, now_decision: Decision) -> None:
            changed.append(
                f"{now_decision.subject.id}: {was.value} → {now_decision.outcome.value} "
                f"(check {original_id[:8]}…, re-check {now_decision.check_id[:8]}…)"
            )

        with sandbox.checker(out / "sdk", on_recheck_changed=on_changed) as checker:
            flows = PluginHost.load()  # the flow plugins installed (entry points)
            excluded = bidding_round(checker, flows)
            flow, acceptance = licence_with_tolerance(checker, flows)
            disclosed = licence_disclosed(checker, flow, acceptance)
            subsidy(checker, flows)
            honours(checker, flows)
            objection(checker, excluded)
            outage_rows = outage(checker, sandbox, changed)
            summary = upload(checker, sandbox)
            summary["outage"] = outage_rows
            summary["disclosure"] = disclosed
            summary["disclosures_received"] = len(sandbox.admin("GET", "/disclosures"))
            summary["rechecks_changed"] = len(changed)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    console.print(f"\nsandbox stopped; files left in [bold]{out.resolve()}[/bold]")
    ok = summary["remaining"] == 0 and summary["chain_ok"] and summary["rechecks_changed"] == 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
