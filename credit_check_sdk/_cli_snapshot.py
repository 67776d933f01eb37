"""``credit-check snapshot …``, ``credit-check sync`` and ``credit-check health``.

::

    credit-check snapshot download lists-export.ndjson.gz # fetch the export to carry in
    credit-check snapshot import lists-export.ndjson.gz   # seed an air-gapped install
    credit-check snapshot status                          # entries, cursor, age
    credit-check sync                                     # bring the snapshot up to date now
    credit-check health                                   # platform, breaker, snapshot, uploads
    credit-check health --json                            # the same, for monitoring

Each takes ``--json``; ``download`` and ``sync`` take ``--timeout``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._cli_common import add_json, add_timeout, emit_json, stderr
from ._time import SHANGHAI, now

__all__ = ["register"]


def _bar(console: Console, *columns: Any) -> Progress:
    """A progress bar on standard error, drawn only when that is a terminal."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        *columns,
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not sys.stderr.isatty(),
    )


def _status(args: argparse.Namespace, out: Console) -> int:
    from .cli import storage_from

    with storage_from(args) as storage:
        status = storage.snapshot.status()
    age = now() - status.as_of if status.as_of else None
    if args.json:
        emit_json(
            {
                "entries": status.entries,
                "as_of": status.as_of,
                "age_seconds": age.total_seconds() if age is not None else None,
                "synced_at": status.synced_at,
                "cursor": status.cursor,
                "path": status.path,
                "size_bytes": status.size_bytes,
            }
        )
        return 0 if status.as_of is not None else 1
    table = Table(title="Offline snapshot / 名单快照", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    if status.as_of is None:
        table.add_row("state", "[yellow]no snapshot yet: run `credit-check sync` or import[/]")
    table.add_row("entries", f"{status.entries:,}")
    table.add_row("as of", status.as_of.isoformat() if status.as_of else "-")
    table.add_row("age", _duration(age.total_seconds()) if age is not None else "-")
    table.add_row("last synced", status.synced_at.isoformat() if status.synced_at else "-")
    table.add_row("cursor", escape(status.cursor or "-"))
    table.add_row("file", escape(status.path or "-"))
    table.add_row("size", f"{status.size_bytes / 1e6:,.1f} MB")
    out.print(table)
    return 0 if status.as_of is not None else 1


def _import(args: argparse.Namespace, out: Console) -> int:
    from .cli import storage_from

    err = stderr()
    with (
        storage_from(args) as storage,
        _bar(err, BarColumn(), TextColumn("{task.completed:,} entries")) as bar,
    ):
        task = bar.add_task(f"importing {escape(args.file)}", total=None)
        result = storage.snapshot.import_export(
            args.file, progress=lambda done, count: bar.update(task, completed=done, total=count)
        )
    if args.json:
        emit_json(
            {
                "entries": result.entries,
                "as_of": result.as_of,
                "cursor": result.cursor,
                "seconds": round(result.seconds, 3),
            }
        )
        return 0
    out.print(
        f"imported {result.entries:,} entries as of {result.as_of.isoformat()} "
        f"in {result.seconds:.1f} s; later syncs continue from cursor {escape(result.cursor)}",
        soft_wrap=True,
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
    from ._client import PlatformClient
    from .cli import settings_from

    settings = settings_from(args)
    target = Path(args.file)
    # Written beside the target and renamed when complete: a broken download
    # never leaves a file that looks like an export.
    part = target.with_name(target.name + ".part")
    client = PlatformClient.from_settings(settings)
    try:
        with _bar(stderr(), TextColumn("{task.completed:,.0f} bytes")) as bar:
            task = bar.add_task(f"downloading the list export to {escape(str(target))}", total=None)
            sink = _CountingFile(part, lambda n: bar.update(task, completed=n))
            try:
                client.export_lists(sink, timeout=args.timeout, read_timeout=settings.timeout * 10)
            except BaseException:
                sink.discard()
                part.unlink(missing_ok=True)
                raise
            sink.finish()
        os.replace(part, target)
    finally:
        client.close()
    if args.json:
        emit_json({"path": str(target), "bytes": sink.size})
        return 0
    out.print(
        f"saved {sink.size:,} bytes to {escape(str(target))}; on the air-gapped machine: "
        f"credit-check snapshot import {escape(target.name)}",
        soft_wrap=True,
    )
    return 0


def _sync(args: argparse.Namespace, out: Console) -> int:
    from ._checker import CreditChecker
    from .cli import refused_status, settings_from

    with (
        CreditChecker(settings_from(args)) as checker,
        _bar(stderr(), BarColumn(), TextColumn("{task.completed:,} changes")) as bar,
    ):
        task = bar.add_task("syncing the snapshot", total=None)
        result = checker.sync_snapshot(
            timeout=args.timeout,
            progress=lambda applied, total: bar.update(task, completed=applied, total=total),
        )
        status = refused_status(checker)
    if args.json:
        emit_json(
            {
                "resynced": result.resynced,
                "applied": result.applied,
                "upserts": result.upserts,
                "deletes": result.deletes,
                "pages": result.pages,
                "as_of": result.as_of,
            }
        )
        return status
    what = "rebuilt" if result.resynced else "followed"
    out.print(
        f"{what}: {result.applied:,} changes ({result.upserts:,} upserts, "
        f"{result.deletes:,} deletes) in {result.pages} pages; as of "
        f"{result.as_of.isoformat() if result.as_of else '-'}"
    )
    return status


# --- health -------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    """``2 s``, ``5 min 3 s``, ``1 d 2 h``: an age or a limit, for a person.

    >>> _duration(2.6), _duration(303), _duration(86400.0), _duration(93784)
    ('2.6 s', '5 min 3 s', '1 d', '1 d 2 h')
    """
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    parts = []
    rest = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size} {unit}")
            rest %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def _value(key: str, value: Any) -> str:
    """One health value as text: no ``None``, no Python repr."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_seconds") and isinstance(value, int | float):
        return _duration(float(value))
    if (key == "last_success" or key.endswith("_at")) and isinstance(value, int | float):
        # A time.time() stamp: the local time it was (Asia/Shanghai, as the journal).
        return datetime.fromtimestamp(value, SHANGHAI).isoformat(timespec="seconds")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Mapping):
        return ", ".join(f"{_label(k)} {_value(k, v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(_value(key, v) for v in value) or "-"
    return str(value)


def _label(key: str) -> str:
    """``max_age_seconds`` → ``max age`` (the value says its unit)."""
    return key.removesuffix("_seconds").replace("_", " ")


#: Health sections as shown, with the keys of each that read better in another name.
_SECTIONS = {
    "platform_answers": "platform answers",
    "configuration": "platform",
    "breaker": "circuit breaker",
    "snapshot": "offline snapshot",
    "relations": "related parties",
    "background": "background sync",
    "followups": "re-checks and watches",
    "uploads": "journal uploads",
    "disclosures": "disclosures (双公示) not yet received",
    "catalog_version": "catalogue",
    "file_modes": "data folder",
    "storage": "storage",
    "checked_at": "checked at",
}


def _health_table(report: Mapping[str, Any]) -> Table:
    table = Table(title="Health / 运行状态", show_header=False, show_lines=True)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    keys = [k for k in _SECTIONS if k in report] + [k for k in report if k not in _SECTIONS]
    for key in keys:
        value = report[key]
        name = _SECTIONS.get(key, key.replace("_", " "))
        if key == "file_modes" and isinstance(value, Mapping):
            wider = value.get("wider") or []
            text = (
                "private (only this user can read it)"
                if value.get("private")
                else ("\n".join(f"{w['path']} is {w['mode']}: {w['fix']}" for w in wider))
            )
        elif isinstance(value, Mapping):
            text = "\n".join(f"{_label(k)}: {_value(k, v)}" for k, v in value.items()) or "-"
        else:
            text = _value(key, value)
        table.add_row(name, escape(text))
    return table


def _health(args: argparse.Namespace, out: Console) -> int:
    from ._checker import CreditChecker
    from .cli import refused_status, settings_from

    with CreditChecker(settings_from(args)) as checker:
        # One signed request, so that a wrong secret or clock shows here (exit 3 or 4).
        reachable = checker.client.answers(timeout=checker.settings.timeout)
        report: dict[str, Any] = {"platform_answers": reachable, **checker.health()}
        if args.json:
            emit_json(report)
        else:
            out.print(_health_table(report))
        talk = stderr() if args.json else out
        late = (report.get("disclosures") or {}).get("late") or 0
        if late:
            talk.print(
                f"warning: {late} disclosure(s) past their due day and not yet received by the"
                " platform; list them with: credit-check disclosures pending",
                style="yellow",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        for wider in report.get("file_modes", {}).get("wider", []):
            talk.print(
                f"warning: {wider['path']} is {wider['mode']} but holds personal ids; "
                f"run: {wider['fix']}",
                style="yellow",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        return refused_status(checker)


def register(sub: Any) -> None:
    """Add ``snapshot``, ``sync`` and ``health`` to the ``credit-check`` parser."""
    from .cli import add_settings, add_storage_flags

    snapshot = sub.add_parser("snapshot", help="the offline snapshot of the red and black lists")
    commands = snapshot.add_subparsers(dest="snapshot_command", required=True)
    status = commands.add_parser("status", help="entries, cursor and age")
    add_json(status, "snapshot status")
    add_storage_flags(status)
    status.set_defaults(func=_status)
    imp = commands.add_parser("import", help="load a list export file carried in by hand")
    imp.add_argument("file", help="gzip NDJSON from GET /v1/lists/export")
    add_json(imp, "snapshot import")
    add_storage_flags(imp)
    imp.set_defaults(func=_import)
    download = commands.add_parser(
        "download", help="save the platform's list export to a file, to carry to another machine"
    )
    download.add_argument("file", help="where to save it (gzip NDJSON)")
    add_json(download, "snapshot download")
    add_timeout(download, 1800.0, "seconds for the whole download")
    add_settings(download)
    download.set_defaults(func=_download)

    sync = sub.add_parser("sync", help="bring the snapshot up to date now (foreground)")
    add_json(sync, "sync")
    add_timeout(sync, 60.0, "seconds for each request of the sync")
    add_settings(sync)
    sync.set_defaults(func=_sync)

    health = sub.add_parser("health", help="breaker, snapshot, background work and uploads")
    add_json(health, "health")
    add_settings(health)
    health.set_defaults(func=_health)
