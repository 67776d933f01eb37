"""The re-check queue (claimed, so a re-check runs once) and the watches (FollowupStore),
and learnt relations (RelationStore), for every adapter."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from credit_check_sdk._models import Profile
from credit_check_sdk._time import now
from credit_check_sdk.storage import Storage

WORKER = Path(__file__).with_name("worker.py")
ORG = "91442000MA4UJ2KQ57"
OTHER = "91442000MA4UPJ8X1B"
PERSON = "442000199001011233"


def queue(storage: Storage, *ids: str) -> None:
    for cid in ids:
        storage.followups.queue_recheck(cid, ORG, "legal_entity", {"category": "bidding"}, "normal")


def test_rechecks_are_queued_once_and_finished(storage: Storage) -> None:
    f = storage.followups
    queue(storage, "c1", "c2")
    queue(storage, "c1")  # again: nothing changes
    f.queue_recheck("c3", PERSON, "natural_person", {"category": "subsidy"}, "review")
    pending = f.pending_rechecks()
    assert [p.check_id for p in pending] == ["c1", "c2", "c3"]
    assert pending[2].kind == "natural_person"
    assert pending[2].matter == {"category": "subsidy"}
    assert f.finish_recheck("c1", "r1", "normal") is False
    assert f.finish_recheck("c3", "r3", "restriction") is True
    assert f.counts() == {"pending": 1, "reverified": 2, "changed": 1, "watches": 0}
    assert [p.check_id for p in f.pending_rechecks(limit=5)] == ["c2"]


def test_a_claimed_recheck_is_skipped_by_others_until_released_or_expired(
    storage: Storage,
) -> None:
    f = storage.followups
    queue(storage, "c1", "c2", "c3")
    assert [p.check_id for p in f.claim_rechecks("h:1:a", 2, 60)] == ["c1", "c2"]
    assert [p.check_id for p in f.claim_rechecks("h:2:b", 10, 60)] == ["c3"]
    assert f.claim_rechecks("h:3:c", 10, 60) == []
    assert [p.check_id for p in f.claim_rechecks("h:1:a", 10, 60)] == ["c1", "c2"]  # its own
    f.release_recheck("h:1:a", "c2")
    assert [p.check_id for p in f.claim_rechecks("h:3:c", 10, 60)] == ["c2"]
    f.finish_recheck("c1", "r1", "normal")  # a finished re-check is nobody's
    f.release_recheck("h:2:b")
    assert [p.check_id for p in f.claim_rechecks("h:4:d", 10, 0.2)] == ["c3"]
    time.sleep(0.3)
    assert [p.check_id for p in f.claim_rechecks("h:5:e", 10, 60)] == ["c3"]
    assert len(f.pending_rechecks()) == 2  # claimed ones are still to do


def test_the_claims_of_an_ended_process_of_this_host_are_released_at_once(
    storage: Storage,
) -> None:
    import os
    import socket

    f = storage.followups
    queue(storage, "c1", "c2", "c3")
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    gone = f"{socket.gethostname()}:{int(ended.stdout)}:x"  # a process that has exited
    alive = f"{socket.gethostname()}:{os.getpid()}:y"
    elsewhere = "another-host:1:z"  # unknown: its lease decides
    for owner in (gone, alive, elsewhere):
        assert len(f.claim_rechecks(owner, 1, 600)) == 1
    assert f.claim_rechecks("h:9:me", 10, 60) == []
    assert f.release_ended_rechecks("h:9:me") == 1
    assert [p.check_id for p in f.claim_rechecks("h:9:me", 10, 60)] == ["c1"]
    assert f.release_ended_rechecks("h:9:me") == 0


def test_two_processes_run_each_recheck_once(
    adapter: Any, storage: Storage, tmp_path: Path
) -> None:
    queue(storage, *(f"c{i:02d}" for i in range(60)))
    go = tmp_path / "GO"
    spec = json.dumps(adapter.spec)
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), spec, "rechecks", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()
    done: list[str] = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        done += [i for line in out.splitlines() for i in json.loads(line)]
    assert sorted(done) == [f"c{i:02d}" for i in range(60)]  # each once, none lost
    assert storage.followups.counts()["reverified"] == 60


def test_watches(storage: Storage) -> None:
    f = storage.followups
    f.watch(ORG, "legal_entity", {"category": "bidding"}, "K-1", check_id="c1", outcome="normal")
    f.watch(OTHER, "legal_entity", {"category": "subsidy"}, "K-2")
    f.learn_related(ORG, [PERSON])
    f.learn_related("91440000000000000X", [PERSON])  # nobody watches it: ignored
    (first, second) = f.watches()
    assert (first.case_id, first.related_ids, first.last_check_id) == ("K-1", (PERSON,), "c1")
    assert second.last_check_id is None
    # Watching again keeps the last check known and takes the new matter.
    f.watch(ORG, "legal_entity", {"category": "licensing"}, "K-1", check_id="c0", outcome="review")
    again = f.watches()[0]
    assert (again.matter, again.last_check_id, again.last_outcome) == (
        {"category": "licensing"},
        "c1",
        "normal",
    )
    f.update_watch(OTHER, "K-2", check_id="c9", outcome="restriction", related_ids=[PERSON])
    assert [w.case_id for w in f.watches_touching({PERSON})] == ["K-1", "K-2"]
    assert [w.case_id for w in f.watches_touching({OTHER})] == ["K-2"]
    assert f.unwatch(ORG, "K-1") is True
    assert f.unwatch(ORG, "K-1") is False
    assert f.counts()["watches"] == 1
    assert f.watches_touching({ORG}) == []


def _profile(subject: str, related: list[tuple[str, str]], as_of: Any) -> Profile:
    return Profile.model_validate(
        {
            "subject": {"id": subject, "kind": "legal_entity"},
            "as_of": as_of.isoformat(),
            "record_since": None,
            "last_adverse_on": None,
            "entries": [],
            "related": [
                {"role": role, "subject": {"id": rid, "kind": "natural_person"}, "entries": []}
                for role, rid in related
            ],
        }
    )


def test_learnt_relations(storage: Storage) -> None:
    r = storage.relations
    t0 = now() - timedelta(hours=3)
    assert r.learn([_profile(ORG, [("legal_representative", PERSON)], t0)]) == 1
    assert r.learn([_profile(OTHER, [], t0)]) == 0  # nothing to learn, nothing to forget
    known = r.known(ORG, max_age=86400)
    assert known is not None
    assert [(x.role, x.subject_id, x.kind) for x in known.relations] == [
        ("legal_representative", PERSON, "natural_person")
    ]
    assert known.as_of == t0
    assert r.known(ORG, max_age=60) is None  # too old to use
    assert r.known(ORG, max_age=60, at=t0 + timedelta(seconds=30)) is not None
    # An older profile is ignored; a newer one replaces the relations wholesale.
    assert r.learn([_profile(ORG, [], t0 - timedelta(days=1))]) == 0
    assert r.learn([_profile(ORG, [("principal", PERSON)], t0 + timedelta(hours=2))]) == 1
    assert [x.role for x in r.known(ORG, max_age=86400).relations] == ["principal"]  # type: ignore[union-attr]
    assert r.counts() == {"subjects": 1, "relations": 1}
    assert r.learn([_profile(ORG, [], t0 + timedelta(hours=4))]) == 1
    assert r.known(ORG, max_age=86400) is None
