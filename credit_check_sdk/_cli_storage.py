"""``credit-check storage import DATA_DIR``: a host's SQLite state into the shared database.

>>> from credit_check_sdk.cli import main
>>> main(["storage", "import", "/var/lib/credit-check",
...       "--database-url", "postgresql://cc@db/credit"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from ._exceptions import ConfigurationError

__all__ = ["register"]


def _import(args: argparse.Namespace, out: Console) -> int:
    from ._env import ENV_VARS
    from .storage import DATABASE_URL_VARIABLE, open_storage

    url = args.database_url or os.environ.get(ENV_VARS["database_url"])
    if not url:
        raise ConfigurationError(
            f"storage import needs the database: --database-url or ${DATABASE_URL_VARIABLE}",
            setting="database_url",
            variable=DATABASE_URL_VARIABLE,
        )
    from .storage.postgres import PostgresStorage
    from .storage.postgres._import import SNAPSHOT_NOTE, import_sqlite_state

    data_dir = Path(args.data_dir_to_import)
    with open_storage(data_dir=data_dir, database_url=url) as storage:
        if not isinstance(storage, PostgresStorage):  # pragma: no cover - a postgresql URL
            raise ConfigurationError("storage import copies into a PostgreSQL database")
        r = import_sqlite_state(storage.db, data_dir)
    lines = [
        f"imported {r['records']:,} records of {data_dir} into {storage.location}"
        f" as writer {r['writer'] or '-'} ({r['records_present']:,} held there already,"
        f" upload states brought forward {r['upload_states']:,}); head {r['head_hash'] or '-'}",
        f"objections {r['objections']}, report receipts {r['receipts']}, re-checks"
        f" {r['rechecks']}, watches {r['watches']}, learnt relations of {r['learnt_subjects']}"
        f" subject(s), commitments {r['commitments']}, disclosures {r['disclosures']}"
        " (rows copied or brought up to date; 0 when the database had them)",
        f"upload state kept: records the platform answered are not sent again; {SNAPSHOT_NOTE}",
    ]
    for line in lines:
        out.print(line, soft_wrap=True, markup=False, highlight=False)
    return 0


def register(sub: Any) -> None:
    """Add ``storage import`` to the ``credit-check`` parser."""
    storage = sub.add_parser("storage", help="move the SDK's state between stores")
    commands = storage.add_subparsers(dest="storage_command", required=True)
    imp = commands.add_parser(
        "import",
        help="copy a host's SQLite state (DATA_DIR) into the shared database: its journal as"
        " its writer's chain, hashes and upload states unchanged, re-checks, watches, learnt"
        " relations, commitments, disclosures (not the snapshot: rebuilt from the platform);"
        " safe to run again",
    )
    imp.add_argument("data_dir_to_import", metavar="DATA_DIR", help="the host's data folder")
    imp.add_argument(
        "--database-url", help="the shared database (default: $CREDIT_CHECK_DATABASE_URL)"
    )
    imp.set_defaults(func=_import)
