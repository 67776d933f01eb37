"""``credit-check snapshot …``, ``credit-check sync`` and ``credit-check health``.

::

    credit-check snapshot download lists-export.ndjson.gz # fetch the export to carry in
    credit-check snapshot import lists-export.ndjson.gz   # seed an air-gapped install
    credit-check snapshot status                          # entries, cursor, age
    credit-check sync                                     # bring the snapshot up to date now
    credit-check health                                   # platform, breaker, snapshot, uploads
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._checker import CreditChecker
from ._client import PlatformClient
from ._time import now

__all__ = ["register"]


def _status(args: argparse.Namespace, out: Console) -> int:
    from .cli import storage_from

    with storage_from(args) as storage:
        status = storage.snapshot.status()
    table = Table(title="Offline snapshot / 名单快照", show_header=False)
    table.add_column("what")
    table.add_column("value")
    if status.as_of is None:
        table.add_row("state", "[yellow]no snapshot yet: run `credit-check sync` or import[/]")
    age = now() - status.as_of if status.as_of else None
    table.add_row("entries", f"{status.entries:,}")
    table.add_row("as of", status.as_of.isoformat() if status.as_of else "-")
    table.add_row("age", str(age).split(".")[0] if age is not None else "-")
    table.add_row("last synced", status.synced_at.isoformat() if status.synced_at else "-")
    table.add_row("cursor", status.cursor or "-")
    table.add_row("file", status.path or "-")
    table.add_row("size", f"{status.size_bytes / 1e6:,.1f} MB")
    out.print(table)
    return 0 if status.as_of is not None else 1


def _import(args: argparse.Namespace, out: Console) -> int:
    from .cli import storage_from

    with (
        storage_from(args) as storage,
        Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,} entries"),
            TimeElapsedColumn(),
            console=out,
        ) as bar,
    ):
        task = bar.add_task(f"importing {args.file}", total=None)
        result = storage.snapshot.import_export(
            args.file, progress=lambda done, count: bar.update(task, completed=done, total=count)
        )
    out.print(
        f"imported {result.entries:,} entries as of {result.as_of.isoformat()} "
        f"in {result.seconds:.1f} s; later syncs continue from cursor {result.cursor}"
    )
    return 0


class _CountingFile:
    """A file that reports the bytes written to a progress bar; rewound by retries."""

    def __init__(self, path: Path, on_bytes: Any) -> None:
        self._file = path.open("wb")
        self._on_bytes = on_bytes
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self.size += self._file.write(data)
        self._on_bytes(self.size)
        return len(data)

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self._file.seek(offset, whence)

    def truncate(self, size: int | None = None, /) -> int:
        self.size = 0
        return self._file.truncate(size)

    def finish(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def discard(self) -> None:
        self._file.close()


def _download(args: argparse.Namespace, out: Console) -> int:
    from .cli import settings_from

    settings = settings_from(args)
    target = Path(args.file)
    # Written beside the target and renamed when complete: a broken download
    # never leaves a file that looks like an export.
    part = target.with_name(target.name + ".part")
    client = PlatformClient.from_settings(settings)
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            TextColumn("{task.completed:,.0f} bytes"),
            TimeElapsedColumn(),
            console=out,
        ) as bar:
            task = bar.add_task(f"downloading the list export to {target}", total=None)
            sink = _CountingFile(part, lambda n: bar.update(task, completed=n))
            try:
                client.export_lists(
                    sink, timeout=args.timeout_seconds, read_timeout=settings.timeout * 10
                )
            except BaseException:
                sink.discard()
                part.unlink(missing_ok=True)
                raise
            sink.finish()
        os.replace(part, target)
    finally:
        client.close()
    out.print(
        f"saved {sink.size:,} bytes to {target}; on the air-gapped machine: "
        f"credit-check snapshot import {target.name}"
    )
    return 0


def _sync(args: argparse.Namespace, out: Console) -> int:
    from .cli import settings_from

    with (
        CreditChecker(settings_from(args)) as checker,
        Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,} changes"),
            TimeElapsedColumn(),
            console=out,
            transient=False,
        ) as bar,
    ):
        task = bar.add_task("syncing the snapshot", total=None)
        result = checker.sync_snapshot(
            timeout=args.timeout_seconds,
            progress=lambda applied, total: bar.update(task, completed=applied, total=total),
        )
        bar.update(task, total=result.applied or 1, completed=result.applied or 1)
    what = "rebuilt" if result.resynced else "followed"
    out.print(
        f"{what}: {result.applied:,} changes ({result.upserts:,} upserts, "
        f"{result.deletes:,} deletes) in {result.pages} pages; as of "
        f"{result.as_of.isoformat() if result.as_of else '-'}"
    )
    return 0


def _health(args: argparse.Namespace, out: Console) -> int:
    from .cli import refused_status, settings_from

    with CreditChecker(settings_from(args)) as checker:
        # One signed request, so that a wrong secret or clock shows here (exit 3 or 4).
        reachable = checker.client.answers(timeout=checker.settings.timeout)
        report: dict[str, Any] = checker.health()
        report["platform_answers"] = reachable
        out.print_json(json.dumps(report, ensure_ascii=False, default=str))
        for wider in report.get("file_modes", {}).get("wider", []):
            out.print(
                f"warning: {wider['path']} is {wider['mode']} but holds personal ids; "
                f"run: {wider['fix']}",
                style="yellow",
                markup=False,
                highlight=False,
            )
        return refused_status(checker)


def register(sub: Any) -> None:
    """Add ``snapshot``, ``sync`` and ``health`` to the ``credit-check`` parser."""
    from .cli import add_settings, add_storage_flags

    snapshot = sub.add_parser("snapshot", help="the offline snapshot of the red and black lists")
    commands = snapshot.add_subparsers(dest="snapshot_command", required=True)
    status = commands.add_parser("status", help="entries, cursor and age")
    add_storage_flags(status)
    status.set_defaults(func=_status)
    imp = commands.add_parser("import", help="load a list export file carried in by hand")
    imp.add_argument("file", help="gzip NDJSON from GET /v1/lists/export")
    add_storage_flags(imp)
    imp.set_defaults(func=_import)
    download = commands.add_parser(
        "download", help="save the platform's list export to a file, to carry to another machine"
    )
    download.add_argument("file", help="where to save it (gzip NDJSON)")
    download.add_argument(
        "--timeout-seconds", type=float, default=1800.0, help="for the whole download"
    )
    add_settings(download)
    download.set_defaults(func=_download)

    sync = sub.add_parser("sync", help="bring the snapshot up to date now (foreground)")
    sync.add_argument("--timeout-seconds", type=float, default=60.0, help="per request")
    add_settings(sync)
    sync.set_defaults(func=_sync)

    health = sub.add_parser("health", help="breaker, snapshot, background work and uploads")
    add_settings(health)
    health.set_defaults(func=_health)
