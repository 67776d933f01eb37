"""Written commitments and disclosures (CommitmentStore, DisclosureStore), for every adapter."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from credit_check_sdk import InvalidRequestError, JournalError
from credit_check_sdk.storage import Commitment, DisclosureDuty, Storage

ORG = "91442000MA4UJ2KQ57"


def commitment(cid: str, due: date, made: date = date(2026, 2, 12)) -> Commitment:
    return Commitment(cid, "k-" + cid, ORG, "XK-1", "C-" + cid, ("场地证明", "章程"), made, due)


def test_commitments(storage: Storage) -> None:
    c = storage.commitments
    c.add(commitment("b", date(2026, 3, 5)))
    c.add(commitment("a", date(2026, 3, 4)))
    c.add(commitment("c", date(2026, 3, 4), made=date(2026, 2, 1)))
    with pytest.raises(JournalError):
        c.add(commitment("a", date(2026, 4, 1)))
    assert c.get("a") == commitment("a", date(2026, 3, 4))
    assert c.get("z") is None
    c.mark_posted("a")
    c.resolve("b", "breached", date(2026, 3, 6))
    assert [x.commitment_id for x in c.select()] == ["c", "a", "b"]
    assert [x.commitment_id for x in c.select(status="open")] == ["c", "a"]
    assert [x.commitment_id for x in c.select(unposted=True)] == ["c", "b"]
    assert [x.commitment_id for x in c.select(status="open", due_before=date(2026, 3, 5))] == [
        "c",
        "a",
    ]
    assert c.select(due_before=date(2026, 3, 4)) == []
    b = c.get("b")
    assert b is not None
    assert (b.status, b.resolved_on, b.posted) == (
        "breached",
        date(2026, 3, 6),
        False,
    )


def disclosure(did: str, decided: date, due: date, kind: str = "licence") -> DisclosureDuty:
    return DisclosureDuty(
        did,
        kind,  # type: ignore[arg-type]
        ORG,
        f"中市监许〔2026〕{did}号",
        decided,
        due,
        "食品经营许可",
        {"scope": "餐饮服务", "valid_until": "2031-03-01"},
        "c-" + did,
    )


def test_disclosures(storage: Storage) -> None:
    d = storage.disclosures
    one = disclosure("1", date(2026, 3, 2), date(2026, 3, 11))
    assert d.add(one) is True
    assert d.add(one) is False  # the same again: kept already
    with pytest.raises(InvalidRequestError):
        d.add(replace(one, title="另一个标题"))  # same id, another body
    assert d.add(disclosure("2", date(2026, 3, 20), date(2026, 3, 31), kind="penalty"))
    assert d.add(disclosure("3", date(2026, 4, 1), date(2026, 4, 13)))
    assert d.get("1") == one
    assert d.get("9") is None
    assert d.mark_posted("1", date(2026, 3, 12)) is True
    assert d.mark_posted("1", date(2026, 3, 20)) is True  # the first receipt stays
    assert d.mark_posted("9", date(2026, 3, 12)) is False
    posted = d.get("1")
    assert posted is not None
    assert posted.posted
    assert posted.published_on == date(2026, 3, 12)
    assert posted.on_time() is False  # due on the 11th
    assert [x.disclosure_id for x in d.select()] == ["1", "2", "3"]
    assert [x.disclosure_id for x in d.select(unposted=True)] == ["2", "3"]
    assert [x.disclosure_id for x in d.select(kind="penalty")] == ["2"]
    assert [x.disclosure_id for x in d.select(due_before=date(2026, 4, 1))] == ["1", "2"]
    march = d.select(decided_from=date(2026, 3, 1), decided_before=date(2026, 4, 1))
    assert [x.disclosure_id for x in march] == ["1", "2"]
    assert march[0].content == {"scope": "餐饮服务", "valid_until": "2031-03-01"}
    assert march[0].platform_body()["decided_on"] == "2026-03-02"


@pytest.mark.parametrize(
    "bad",
    [
        lambda d: replace(d, kind="notice"),
        lambda d: replace(d, disclosure_id=""),
        lambda d: replace(d, content={"x": float("nan")}),
        lambda d: replace(d, content={"x": object()}),
    ],
)
def test_a_bad_disclosure_is_refused(storage: Storage, bad: object) -> None:
    with pytest.raises(InvalidRequestError):
        storage.disclosures.add(bad(disclosure("1", date(2026, 3, 2), date(2026, 3, 11))))  # type: ignore[operator]
    assert storage.disclosures.select() == []
