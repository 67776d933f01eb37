"""The counter app: plain server-rendered HTML over one :class:`AsyncCreditChecker`.

Pages:

``GET /``
    the form: subject id, matter, (for licensing) missing documents and the
    written commitment, operator.
``POST /check``
    runs ``must_check`` and shows the decision: outcome, measures with their
    basis, reasons in Chinese and English, and the action form.
``POST /action``
    journals what the counter did with ``record_action``: ``applied``, or
    ``overridden`` / ``not_applied`` with the officer's reason. An override
    without a reason is refused and the decision page shown again with the
    error.

Checks and actions are awaited on the server's event loop: while one waits for
the platform or the journal's disk write, the loop serves other requests.
Forms are read with the standard library (no ``python-multipart``), pages are
f-strings with every value escaped. The app keeps the decisions it showed in
memory (bounded) to show them again; the journal is the record.
"""

from __future__ import annotations

import html
import threading
from collections import OrderedDict
from collections.abc import Mapping
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from credit_check_sdk import (
    AsyncCreditChecker,
    CreditCheckError,
    Decision,
    Document,
    Matter,
)
from credit_check_sdk._ids import mask_id

__all__ = ["create_app"]

_KEEP_DECISIONS = 500
_ACTIONS = {
    "applied": "Applied / 已执行",
    "not_applied": "Not applied / 未执行",
    "overridden": "Overridden / 变更处理",
}
_OUTCOME_LABELS = {
    "green_channel": "绿色通道 green channel",
    "tolerance": "容缺受理 tolerance",
    "normal": "一般程序 normal",
    "restriction": "限制/从严 restriction",
    "review": "人工核查 review",
}
_STYLE = """
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2rem;max-width:60rem}
label{display:block;margin:.6rem 0 .2rem}
input[type=text],select,textarea{width:100%;padding:.3rem;font-size:1rem}
button{margin:.8rem .5rem 0 0;padding:.4rem 1rem;font-size:1rem}
.outcome{font-size:1.4rem;font-weight:bold;padding:.3rem .6rem;display:inline-block}
.restriction,.review{background:#fde2e1}.green_channel,.tolerance{background:#e1f5e4}
.normal{background:#eef}
.error{color:#a00;border:1px solid #a00;padding:.5rem;background:#fff4f4}
.ok{color:#060;border:1px solid #060;padding:.5rem;background:#f4fff4}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem;
vertical-align:top;text-align:left}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    text = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{_e(title)}</h1>{body}<p><a href="/" id="new-check">新的核查 / New check</a></p>'
        "</body></html>"
    )
    return HTMLResponse(text, status_code=status)


def _error(message: str) -> str:
    return f'<p class="error" id="error" role="alert">{_e(message)}</p>'


def _shown_id(decision: Decision) -> str:
    subject = decision.subject
    return subject.id if subject.kind == "legal_entity" else mask_id(subject.id)


def _form_page(
    matters: list[str], values: Mapping[str, str], error: str | None = None, *, status: int = 200
) -> HTMLResponse:
    chosen = values.get("matter", "licensing")
    options = "".join(
        f'<option value="{_e(m)}"{" selected" if m == chosen else ""}>{_e(m)}</option>'
        for m in matters
    )
    checked = " checked" if values.get("commitment") else ""
    body = (
        (_error(error) if error else "") + '<form method="post" action="/check" id="check-form">'
        '<label for="subject">统一社会信用代码 / 身份证号 — subject id</label>'
        f'<input type="text" id="subject" name="subject" value="{_e(values.get("subject"))}" '
        "required autofocus>"
        '<label for="matter">事项 / matter</label>'
        f'<select id="matter" name="matter">{options}</select>'
        '<label for="case_id">案件编号 / case id</label>'
        f'<input type="text" id="case_id" name="case_id" value="{_e(values.get("case_id"))}">'
        "<fieldset><legend>行政许可 / licensing only</legend>"
        '<label for="missing">缺少的非法定材料（每行一项）/ missing documents, one a line</label>'
        f'<textarea id="missing" name="missing" rows="3">{_e(values.get("missing"))}</textarea>'
        '<label for="missing_statutory">缺少的法定材料 / missing statutory documents</label>'
        '<textarea id="missing_statutory" name="missing_statutory" rows="2">'
        f"{_e(values.get('missing_statutory'))}</textarea>"
        f'<label><input type="checkbox" id="commitment" name="commitment" value="1"{checked}> '
        "申请人已签署书面承诺 / written commitment signed</label></fieldset>"
        '<label for="operator">经办人 / operator</label>'
        f'<input type="text" id="operator" name="operator" value="{_e(values.get("operator"))}">'
        '<button type="submit" id="check">核查 / Check</button></form>'
    )
    return _page("信用核查 / Credit check at the counter", body, status=status)


def _decision_page(
    decision: Decision, operator: str, error: str | None = None, *, status: int = 200
) -> HTMLResponse:
    outcome = decision.outcome.value
    rows = "".join(
        f'<tr class="measure" data-measure="{_e(m.id)}"><td>{_e(m.id)}</td>'
        f"<td>{_e(m.title.zh)}<br>{_e(m.title.en)}</td>"
        f"<td>{_e(m.kind)} · {_e(m.effect)}{' · mandatory 必须执行' if m.mandatory else ''}</td>"
        f"<td>{_e(m.status)}</td><td>{_e(', '.join(m.entry_ids))}</td>"
        f'<td class="basis">{_e(m.basis)}</td></tr>'
        for m in decision.measures
    )
    measures = (
        '<table id="measures"><tr><th>措施 measure</th><th>名称 title</th><th>类型 kind</th>'
        f"<th>状态 status</th><th>名单条目 entries</th><th>依据 basis</th></tr>{rows}</table>"
        if decision.measures
        else '<p id="measures">无触发措施 / no measure triggered</p>'
    )
    reasons = "".join(
        f'<li><span lang="zh">{_e(r.zh)}</span><br><span lang="en">{_e(r.en)}</span></li>'
        for r in decision.reasons
    )
    degraded = (
        f'<p class="error">降级决定 / degraded (source: {_e(decision.source)})</p>'
        if decision.degraded
        else ""
    )
    body = (
        (_error(error) if error else "")
        + f"<p>主体 subject: <b id='subject-id'>{_e(_shown_id(decision))}</b> · "
        f"事项 matter: <b>{_e(decision.matter.category)}</b>"
        f"{' · 案件 case ' + _e(decision.matter.case_id) if decision.matter.case_id else ''}</p>"
        f'<p><span class="outcome {_e(outcome)}" id="outcome" data-outcome="{_e(outcome)}">'
        f"{_e(outcome)}</span> {_e(_OUTCOME_LABELS.get(outcome, ''))}</p>"
        f"{degraded}<h2>措施 / Measures</h2>{measures}"
        f'<h2>理由 / Reasons</h2><ul id="reasons">{reasons}</ul>'
        f'<p>核查编号 check id: <code id="check-id">{_e(decision.check_id)}</code> · '
        f"数据来源 source: {_e(decision.source)}</p>"
        '<h2>处理 / What the counter does</h2><form method="post" action="/action" '
        'id="action-form">'
        f'<input type="hidden" name="check_id" value="{_e(decision.check_id)}">'
        f'<input type="hidden" name="operator" value="{_e(operator)}">'
        '<label for="reason">理由（不执行或变更处理时必填）/ reason (required to override)</label>'
        '<textarea id="reason" name="reason" rows="2"></textarea>'
        '<button type="submit" name="action" value="applied" id="apply">'
        "按决定执行 / Apply</button>"
        '<button type="submit" name="action" value="overridden" id="override">'
        "变更处理 / Override</button>"
        '<button type="submit" name="action" value="not_applied" id="not-apply">'
        "不执行激励 / Decline incentives</button></form>"
    )
    return _page("核查结果 / Decision", body, status=status)


def _fields(raw: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body, last value of each field."""
    parsed = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def create_app(checker: AsyncCreditChecker, *, title: str = "credit-check counter") -> FastAPI:
    """The counter app over ``checker`` (the caller keeps and closes the checker).

    >>> from credit_check_sdk.testing import FakePlatform
    >>> app = create_app(FakePlatform().async_checker())
    >>> sorted(r.path for r in app.routes if r.path in ("/", "/check", "/action"))
    ['/', '/action', '/check']
    """
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    shown: OrderedDict[str, Decision] = OrderedDict()
    lock = threading.Lock()
    app.state.checker = checker

    def matters() -> list[str]:
        return sorted(checker.catalog.matters())

    def remember(decision: Decision) -> None:
        with lock:
            shown[decision.check_id] = decision
            while len(shown) > _KEEP_DECISIONS:
                shown.popitem(last=False)

    @app.get("/", response_class=HTMLResponse)
    async def form() -> HTMLResponse:
        return _form_page(matters(), {})

    @app.post("/check", response_class=HTMLResponse)
    async def check(request: Request) -> HTMLResponse:
        values = _fields(await request.body())
        operator = values.get("operator", "").strip()
        category = values.get("matter", "").strip()
        missing: list[Document] = [Document(n) for n in _lines(values.get("missing", ""))]
        missing += [
            Document(n, statutory=True) for n in _lines(values.get("missing_statutory", ""))
        ]
        try:
            matter = Matter(
                category,
                case_id=values.get("case_id", "").strip() or None,
                missing_documents=tuple(missing) if category == "licensing" else (),
                commitment=category == "licensing" and bool(values.get("commitment")),
            )
            decision = await checker.must_check(
                values.get("subject", ""),
                matter,
                operator=operator or None,
            )
        except (CreditCheckError, ValueError) as exc:
            return _form_page(matters(), values, f"无法核查 / cannot check: {exc}", status=400)
        remember(decision)
        return _decision_page(decision, operator)

    @app.post("/action", response_class=HTMLResponse)
    async def action(request: Request) -> HTMLResponse:
        values = _fields(await request.body())
        check_id = values.get("check_id", "")
        what = values.get("action", "")
        reason = values.get("reason", "").strip()
        operator = values.get("operator", "").strip()
        with lock:
            decision = shown.get(check_id)
        if decision is None:
            return _page(
                "核查结果 / Decision",
                _error(f"未知的核查编号 / unknown check id {check_id!r}: check again"),
                status=404,
            )
        if what not in _ACTIONS:
            return _decision_page(decision, operator, f"unknown action {what!r}", status=400)
        if what != "applied" and not reason:
            return _decision_page(
                decision,
                operator,
                "不按决定执行须填写理由 / an override needs a reason: nothing was recorded",
                status=400,
            )
        try:
            action_id = await checker.record_action(
                check_id,
                what,  # type: ignore[arg-type]  # one of _ACTIONS, checked above
                reason=reason or None,
                operator=operator or None,
            )
        except CreditCheckError as exc:
            return _decision_page(decision, operator, f"未记录 / not recorded: {exc}", status=400)
        body = (
            f'<p class="ok" id="recorded" data-action="{_e(what)}">已记录 / recorded: '
            f"<b id='action'>{_e(_ACTIONS[what])}</b></p>"
            f"<p>主体 subject: {_e(_shown_id(decision))} · 结果 outcome: "
            f"{_e(decision.outcome.value)}</p>"
            f'<p>处理记录 action id: <code id="action-id">{_e(action_id)}</code><br>'
            f'核查编号 check id: <code id="check-id">{_e(check_id)}</code></p>'
            + (f"<p>理由 reason: {_e(reason)}</p>" if reason else "")
        )
        return _page("已记录 / Journaled", body)

    return app
