"""``AsyncCreditChecker`` on one event loop, each figure beside its floor from the same run.

Run: ``python benchmarks/bench_async.py`` (``make bench`` runs every benchmark).

Live checks (``fresh=True``: one profile request each, and the durable journal
write) awaited 50 at a time on one event loop, against a local platform served
over HTTP that takes 20 ms to answer each, beside the floor: the same signed
profile requests alone, 50 at a time on ``httpx.AsyncClient`` (no decision, no
journal). The loop's longest stall while the checks run is measured with a
10 ms ticker (a blocked loop shows as a long stall).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from bench_floor import company_ids

from credit_check_sdk import AsyncCreditChecker
from credit_check_sdk.signing import signed_headers
from credit_check_sdk.testing import FakePlatform

CHECKS = 400
AT_ONCE = 50
LATENCY = 0.02


async def _longest_stall(until: asyncio.Event) -> float:
    longest, last = 0.0, time.perf_counter()
    while not until.is_set():
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        longest, last = max(longest, now - last - 0.01), now
    return longest


async def sdk(fake: FakePlatform, subjects: list[str], tmp: Path) -> tuple[float, float]:
    limit = asyncio.Semaphore(AT_ONCE)
    async with AsyncCreditChecker(
        base_url=fake.serve(),
        app_id=fake.app_id,
        app_secret=fake.app_secret,
        agency_id=fake.agency_id,
        data_dir=tmp / "async",
        timeout=10,
        offline=False,
    ) as checker:
        await checker.must_check(subjects[0], "bidding")  # catalogue fetched

        async def one(subject: str) -> None:
            async with limit:
                decision = await checker.must_check(subject, "bidding", fresh=True)
                assert decision.source == "live"

        done = asyncio.Event()
        ticker = asyncio.create_task(_longest_stall(done))
        t0 = time.perf_counter()
        await asyncio.gather(*(one(s) for s in subjects))
        elapsed = time.perf_counter() - t0
        done.set()
        stall = await ticker
        assert checker.journal.verify().ok
    return CHECKS / elapsed, stall


async def floor(fake: FakePlatform, subjects: list[str]) -> float:
    limit = asyncio.Semaphore(AT_ONCE)
    base_url = fake.serve()
    async with httpx.AsyncClient() as client:

        async def one(subject: str) -> None:
            path = f"/api/v1/subjects/{subject}/profile"
            headers = signed_headers(
                app_id=fake.app_id, app_secret=fake.app_secret, method="GET", path=path, body=b""
            )
            async with limit:
                response = await client.get(base_url + path[len("/api") :], headers=headers)
                response.raise_for_status()
                response.json()

        t0 = time.perf_counter()
        await asyncio.gather(*(one(s) for s in subjects))
        return CHECKS / (time.perf_counter() - t0)


async def main() -> None:
    subjects = company_ids(CHECKS)
    with tempfile.TemporaryDirectory() as tmp, FakePlatform() as fake:
        for s in subjects[::10]:
            fake.add_entry(s, "black", "wage_arrears")
        fake.delay(LATENCY, path="/profile")
        sdk_rate, stall = await sdk(fake, subjects, Path(tmp))
        floor_rate = await floor(fake, subjects)
    print("| benchmark | figure | floor (same run) | ratio |")
    print("| --- | --- | --- | --- |")
    print(
        f"| live `must_check` awaited {AT_ONCE} at a time, platform answering in "
        f"{LATENCY * 1000:.0f} ms | {sdk_rate:,.0f} checks/s | the signed profile requests "
        f"alone on httpx, {AT_ONCE} at a time: {floor_rate:,.0f}/s | "
        f"{floor_rate / sdk_rate:.2f}× slower |"
    )
    print(f"| the event loop's longest stall meanwhile | {stall * 1000:.0f} ms | — | — |")


if __name__ == "__main__":
    asyncio.run(main())
