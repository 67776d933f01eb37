"""``credit-check sandbox``: seed (when empty) and serve the sandbox platform.

::

    credit-check sandbox --port 8700 [--host 127.0.0.1] [--db FILE] [--seed N]
        [--seed-size N] [--app-id ID --app-secret SECRET] [--agency-id ID]
        [--admin] [--rate-limit RPS] [--change-retention N|SECONDSs] [--workers N] [-v]

Also ``credit-check-sandbox`` and ``python -m credit_check_sandbox``.

Once it is listening it prints what a checker needs: the base URL, the app id and
secret, and the agency id its journal records must name (records naming another
agency are rejected), also as ``CREDIT_CHECK_*`` variables to paste into a shell;
then ``SANDBOX_READY <base_url>`` (``--port 0`` picks a free port and prints the
real one), so that scripts and test fixtures can wait for that line::

    credit platform sandbox at http://127.0.0.1:8700/api
    app id:     sandbox-agency
    app secret: sandbox-secret
    agency id:  sandbox-agency
    export CREDIT_CHECK_BASE_URL=http://127.0.0.1:8700/api CREDIT_CHECK_APP_ID=sandbox-agency \
        CREDIT_CHECK_APP_SECRET=sandbox-secret CREDIT_CHECK_AGENCY_ID=sandbox-agency
    SANDBOX_READY http://127.0.0.1:8700/api

``--workers N`` serves from N processes sharing the listening socket and the
database (seeded once, before they start); nonces are then claimed in the
database, so a request replayed to another worker is still refused.

>>> build_parser().parse_args(["--port", "0", "--admin"]).admin
True
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import socket
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from credit_check_sdk._config import ENV_VARS

__all__ = ["build_parser", "main", "worker_app"]

logger = logging.getLogger(__name__)

#: How ``--workers`` hands the settings to its worker processes.
_SETTINGS_ENV = "CREDIT_CHECK_SANDBOX_SETTINGS"


def _retention(value: str) -> int | timedelta | None:
    text = value.strip().lower()
    if text in ("", "none", "forever"):
        return None
    if text.endswith("s"):
        return timedelta(seconds=float(text[:-1]))
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``credit-check sandbox``."""
    p = argparse.ArgumentParser(
        prog="credit-check sandbox",
        description="Run a local sandbox of the public credit information platform.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8700, help="port; 0 picks a free one (8700)")
    p.add_argument(
        "--db",
        default="credit-check-sandbox.db",
        help="SQLite file, or a database URL (credit-check-sandbox.db)",
    )
    p.add_argument("--seed", type=int, default=20181130, help="random seed of the data")
    p.add_argument(
        "--seed-size",
        type=int,
        default=10_000,
        help="number of subjects to create when the database is empty (10000)",
    )
    p.add_argument("--app-id", default="sandbox-agency", help="the agency app id accepted")
    p.add_argument("--app-secret", default="sandbox-secret", help="its signing secret")
    p.add_argument(
        "--agency-id",
        default=None,
        help="the agency id the app's journal records and reports must name (default: the app id)",
    )
    p.add_argument(
        "--admin",
        action="store_true",
        help="enable the unsigned, loopback-only /_sandbox admin endpoints",
    )
    p.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="requests per second per app id (default: unlimited)",
    )
    p.add_argument(
        "--change-retention",
        type=_retention,
        default=timedelta(days=7),
        help="how long a change-feed cursor stays good: N changes, or e.g. 3600s "
        "(default 604800s); 'none' for ever",
    )
    p.add_argument("--log-level", default="info", help="uvicorn log level (info)")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log the sandbox's own steps at DEBUG (the default is INFO)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the socket and the database (1)",
    )
    return p


def _exports(base_url: str, app_id: str, app_secret: str, agency_id: str) -> str:
    """The settings as one shell line, so that ``credit-check`` and ``must_check`` find them.

    >>> _exports("http://127.0.0.1:8700/api", "a", "s", "zs-fgj").split()[-1]
    'CREDIT_CHECK_AGENCY_ID=zs-fgj'
    """
    values = {
        "base_url": base_url,
        "app_id": app_id,
        "app_secret": app_secret,
        "agency_id": agency_id,
    }
    return "export " + " ".join(
        f"{ENV_VARS[name]}={shlex.quote(value)}" for name, value in values.items()
    )


def worker_app() -> Any:
    """The app of one ``--workers`` process (a uvicorn app factory): settings from the
    environment, database already seeded by the parent."""
    from .app import SandboxSettings, create_app

    return create_app(SandboxSettings.model_validate_json(os.environ[_SETTINGS_ENV]))


def _database_url(value: str) -> str:
    if "://" in value:
        return value
    return "sqlite:///" + str(Path(value).resolve())


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until interrupted; returns the exit status.

    ``argv`` may start with ``sandbox`` (as the ``credit-check`` command passes it).
    """
    from . import require_extra

    require_extra()
    import uvicorn

    from .app import SandboxSettings, create_app

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sandbox"]:
        args = args[1:]
    opts = build_parser().parse_args(args)
    logging.basicConfig(
        level=logging.DEBUG if opts.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = SandboxSettings(
        database_url=_database_url(opts.db),
        app_id=opts.app_id,
        app_secret=opts.app_secret,
        agency_id=opts.agency_id,
        seed=opts.seed,
        seed_size=opts.seed_size,
        admin_enabled=opts.admin,
        rate_limit=opts.rate_limit,
        change_retention=opts.change_retention,
    )
    if opts.workers < 1 or (
        opts.workers > 1 and settings.database_url in ("sqlite://", "sqlite:///:memory:")
    ):
        print("--workers must be 1, or more with a database file", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    if opts.workers > 1:
        settings = settings.model_copy(update={"shared_nonces": True})
        # Seed once, here, before the workers open the database.
        from . import db
        from .seed import seed_database

        engine = db.make_engine(settings.database_url)
        seed_database(
            engine,
            seed=settings.seed,
            seed_size=settings.seed_size,
            reference_date=settings.reference_date,
        )
        engine.dispose()
        app: Any = None
    else:
        app = create_app(settings)
    family = socket.AF_INET6 if ":" in opts.host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP, and without it every response waits ~40 ms for delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((opts.host, opts.port))
    except OSError as exc:
        print(f"cannot listen on {opts.host}:{opts.port}: {exc}", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    port = sock.getsockname()[1]
    shown_host = f"[{opts.host}]" if ":" in opts.host else opts.host
    base_url = f"http://{shown_host}:{port}{settings.base_path}"

    agency_id = settings.agency_id or settings.app_id

    def announce() -> None:
        out = sys.stdout
        out.write(f"credit platform sandbox at {base_url}\n")
        out.write(f"app id:     {settings.app_id}\n")
        out.write(f"app secret: {settings.app_secret}\n")
        out.write(f"agency id:  {agency_id}\n")
        if settings.admin_enabled:
            out.write(f"admin:      http://{shown_host}:{port}/_sandbox\n")
        if opts.workers > 1:
            out.write(f"workers:    {opts.workers}\n")
        out.write(f"{_exports(base_url, settings.app_id, settings.app_secret, agency_id)}\n")
        out.write(f"SANDBOX_READY {base_url}\n")
        out.flush()

    if opts.workers > 1:
        return _serve_workers(opts, settings, sock, announce)
    config = uvicorn.Config(app, log_level=opts.log_level, lifespan="off", access_log=True)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                announce()

    server = _Server(config)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def _serve_workers(
    opts: argparse.Namespace, settings: Any, sock: socket.socket, announce: Callable[[], None]
) -> int:
    """Serve from ``opts.workers`` uvicorn processes; announce once every one is ready."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[_SETTINGS_ENV] = settings.model_dump_json()
    config = uvicorn.Config(
        f"{__name__}:worker_app",
        factory=True,
        workers=opts.workers,
        log_level=opts.log_level,
        lifespan="off",
        access_log=True,
    )
    sock.listen(2048)  # connections wait in the backlog until a worker takes them

    class _Supervisor(Multiprocess):
        def init_processes(self) -> None:
            super().init_processes()
            for process in self.processes:
                wait = getattr(process, "wait_until_ready", None)  # uvicorn >= 0.5x
                if wait is not None and not wait(120.0, self.should_exit):
                    logger.error("a worker did not get ready")
                    self.should_exit.set()
                    return
            announce()

    try:
        _Supervisor(config, sockets=[sock]).run()
    finally:
        sock.close()
    return 0
