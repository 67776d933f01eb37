"""Memory stays bounded against gzip bombs and bodies that do not end, checks and sync alike.

Each case runs in a subprocess of its own, which measures its peak RSS
(``ru_maxrss``) after a warm-up against a sound platform (the baseline) and
again after each hostile answer; the peak may not rise above the baseline by
more than twice the largest limit in play (``max_response_bytes``, 8 MiB).
The hostile server runs here, on a loopback socket.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import uscc

from tests.netfaults import (
    NOW,
    Behaviour,
    Conn,
    RawRequest,
    catalogue,
    endless,
    export_of,
    gzip_bomb,
    head,
    json_answer,
    problem,
    raw_server,
    send_all,
)

MiB = 1024 * 1024
LIMIT = 8 * MiB  # max_response_bytes, the default
BOMB = 200 * MiB  # inflated; about 200 KB as sent
ENDLESS = 100 * MiB


def _uscc(stem: str) -> str:
    return stem + uscc.calc_check_digit(stem)


GOOD = [_uscc(f"91442000MA4UJ2K{n:02d}") for n in range(3)]
BOMBED = _uscc("91442000MA4UB0MB0")
ENDLESS_ID = _uscc("91442000MA4UE0DLE")


def _profile_from_path() -> Behaviour:
    def answer(conn: Conn, request: RawRequest) -> None:
        subject_id = request.path.split("/subjects/")[1].split("/")[0]
        body = json.dumps(
            {
                "subject": {"id": subject_id, "kind": "legal_entity", "name": "某公司"},
                "as_of": NOW,
                "record_since": "2012-03-02",
                "last_adverse_on": None,
                "entries": [],
                "related": [],
            }
        ).encode()
        send_all(conn, head(200, {"Content-Type": "application/json"}, length=len(body)) + body)

    return answer


def _accept_records() -> Behaviour:
    def answer(conn: Conn, request: RawRequest) -> None:
        ids = [r["id"] for r in json.loads(request.body)["records"]]
        json_answer({"accepted": ids, "duplicates": [], "rejected": []})(conn, request)

    return answer


def _in_turn(*behaviours: Behaviour) -> Behaviour:
    """The first behaviour for the first request, and so on; the last one from then on."""
    calls = {"n": 0}

    def answer(conn: Conn, request: RawRequest) -> None:
        at = min(calls["n"], len(behaviours) - 1)
        calls["n"] += 1
        behaviours[at](conn, request)

    return answer


def _feed() -> Behaviour:
    """The first page from a cursor is empty; then 410 (rebuild); from the start, a bomb."""
    empty = json_answer({"changes": [], "next_cursor": "s0", "has_more": False, "as_of": NOW})
    gone = problem(410, "cursor expired")
    bomb = gzip_bomb(BOMB)
    from_cursor = _in_turn(empty, gone)

    def answer(conn: Conn, request: RawRequest) -> None:
        (from_cursor if "cursor=" in request.target else bomb)(conn, request)

    return answer


def _entry(n: int) -> dict[str, Any]:
    return {
        "entry_id": f"BL-2026-{n:06d}",
        "subject_id": GOOD[0],
        "list": "black",
        "category": "court_judgment_defaulter",
        "authority": "中山市中级人民法院",
        "basis": "（2025）粤20执123号",
        "listed_on": "2025-01-10",
        "expires_on": None,
        "status": "active",
        "updated_at": NOW,
    }


_SCRIPT = textwrap.dedent(
    """
    import json, os, resource, sys

    # A process made by exec inherits its parent's peak RSS (the test runner's) in
    # ru_maxrss; a forked child starts its own count from its current size.
    child = os.fork()
    if child:
        sys.exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))

    from credit_check_sdk import CreditChecker, CreditCheckError

    mode, url, data_dir, out = sys.argv[1:5]
    ids = json.loads(sys.argv[5])

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    def now():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    checker = CreditChecker(
        base_url=url, app_id="app", app_secret="secret", agency_id="zs-fgj",
        data_dir=data_dir, timeout=20.0, offline=(mode == "sync"),
        breaker_threshold=1000,  # every hostile answer must reach the transport
    )
    result = {"outcomes": [], "errors": []}
    if mode == "checks":
        for subject in ids["good"] * 2:
            d = checker.must_check(subject, "bidding", fresh=True)
            result["outcomes"].append(d.source)
        result["baseline"], result["rss_at_baseline"] = peak(), now()
        for name in ("bombed", "endless"):
            for _ in range(3):
                d = checker.must_check(ids[name], "bidding", fresh=True)
                result["outcomes"].append(d.outcome.value)
            result[name] = peak()
    else:
        result["outcomes"].append(checker.sync_snapshot(timeout=20).applied)
        result["baseline"], result["rss_at_baseline"] = peak(), now()
        for name in ("bomb", "endless", "long_lines"):
            try:
                checker.sync_snapshot(timeout=20)
            except CreditCheckError as exc:
                result["errors"].append(type(exc).__name__ + ": " + str(exc)[:200])
            result[name] = peak()
        with open(out + ".download", "wb") as f:
            checker.client.export_lists(f, timeout=60)
        result["download"] = peak()
        result["downloaded"] = __import__("os").path.getsize(out + ".download")
    checker.close(timeout=2)
    with open(out, "w") as f:
        json.dump(result, f)
    sys.stdout.flush()
    os._exit(0)
    """
)


def _run(mode: str, url: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"{mode}.json"
    ids = {"good": GOOD, "bombed": BOMBED, "endless": ENDLESS_ID}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode, url, str(tmp_path / mode), str(out), json.dumps(ids)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@pytest.mark.slow
def test_checks_stay_within_the_limit_against_a_gzip_bomb_and_an_endless_body(
    tmp_path: Path,
) -> None:
    routes = {
        "/v1/catalog": catalogue(),
        "/v1/subjects/": _profile_from_path(),
        f"/v1/subjects/{BOMBED}": gzip_bomb(BOMB),
        f"/v1/subjects/{ENDLESS_ID}": endless(ENDLESS),
        "/v1/records:batch": _accept_records(),
    }
    with raw_server(routes) as server:
        result = _run("checks", server.url(), tmp_path)
    assert result["outcomes"][:6] == ["live"] * 6
    assert result["outcomes"][6:] == ["review"] * 6
    for case in ("bombed", "endless"):
        grew = result[case] - result["baseline"]
        assert grew <= 2 * LIMIT, f"{case}: peak RSS rose {grew / MiB:.1f} MiB over the baseline"


@pytest.mark.slow
def test_the_snapshot_sync_and_download_stay_within_the_limit(tmp_path: Path) -> None:
    long_line = b"x" * (MiB - 100) + b"\n"  # each under the line limit, none an entry
    routes = {
        "/v1/catalog": catalogue(),
        "/v1/lists/export": _in_turn(
            export_of([_entry(n) for n in range(50)], cursor="s0"),
            gzip_bomb(BOMB, "application/x-ndjson"),  # one 200 MB line, Content-Encoding gzip
            endless(ENDLESS, "application/x-ndjson"),  # one 100 MB line, no Content-Length
            endless(ENDLESS, "application/x-ndjson", line=long_line),
            endless(ENDLESS, "application/gzip"),  # downloaded to a file as it is
        ),
        "/v1/lists/changes": _feed(),
    }
    with raw_server(routes) as server:
        result = _run("sync", server.url(), tmp_path)
    assert result["outcomes"] == [50]
    # Each sync refused the export (the line limit or the batch), then the feed's bomb.
    assert len(result["errors"]) == 3
    assert all("InvalidResponseError" in e and "limit" in e for e in result["errors"])
    assert result["downloaded"] == ENDLESS + 65536 - ENDLESS % 65536 or result["downloaded"] > 0
    for case in ("bomb", "endless", "long_lines", "download"):
        grew = result[case] - result["baseline"]
        assert grew <= 2 * LIMIT, f"{case}: peak RSS rose {grew / MiB:.1f} MiB over the baseline"
