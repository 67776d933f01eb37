"""Record ids: random version-4 UUIDs, distinct across threads and across a fork."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from credit_check_sdk._record_ids import new_record_id


def test_ids_are_version_4_uuids_and_distinct_across_threads() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        ids = [new_record_id() for _ in range(2000)]
        with lock:
            seen.extend(ids)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == len(seen) == 8000
    for text in seen[:50]:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_record_id()  # the buffer holds the parent's next ids now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids down the pipe, then leave at once
        os.close(read)
        os.write(write, ",".join(new_record_id() for _ in range(300)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    parent = {new_record_id() for _ in range(300)}
    assert len(child) == 300
    assert not child & parent
