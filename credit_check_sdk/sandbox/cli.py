"""``credit-check sandbox``: seed (when empty) and serve the sandbox platform.

::

    credit-check sandbox --port 8700 [--host 127.0.0.1] [--db FILE] [--seed N]
        [--seed-size N] [--app-id ID --app-secret SECRET] [--admin]
        [--rate-limit RPS] [--change-retention N|SECONDSs]

It prints the base URL, app id and secret, then ``SANDBOX_READY <base_url>``
once it is listening (``--port 0`` picks a free port and prints the real
one), so that scripts and test fixtures can wait for that line.

>>> build_parser().parse_args(["--port", "0", "--admin"]).admin
True
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from datetime import timedelta
from pathlib import Path

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)


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
    p.add_argument("--db", default="credit-check-sandbox.db",
                   help="SQLite file, or a database URL (credit-check-sandbox.db)")
    p.add_argument("--seed", type=int, default=20181130, help="random seed of the data")
    p.add_argument("--seed-size", type=int, default=10_000,
                   help="number of subjects to create when the database is empty (10000)")
    p.add_argument("--app-id", default="sandbox-agency", help="the agency app id accepted")
    p.add_argument("--app-secret", default="sandbox-secret", help="its signing secret")
    p.add_argument("--admin", action="store_true",
                   help="enable the unsigned, loopback-only /_sandbox admin endpoints")
    p.add_argument("--rate-limit", type=float, default=None,
                   help="requests per second per app id (default: unlimited)")
    p.add_argument("--change-retention", type=_retention, default=timedelta(days=7),
                   help="how long a change-feed cursor stays good: N changes, or e.g. 3600s "
                        "(default 604800s); 'none' for ever")
    p.add_argument("--log-level", default="info", help="uvicorn log level (info)")
    return p


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
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = SandboxSettings(
        database_url=_database_url(opts.db),
        app_id=opts.app_id,
        app_secret=opts.app_secret,
        seed=opts.seed,
        seed_size=opts.seed_size,
        admin_enabled=opts.admin,
        rate_limit=opts.rate_limit,
        change_retention=opts.change_retention,
    )
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
    config = uvicorn.Config(app, log_level=opts.log_level, lifespan="off", access_log=True)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                out = sys.stdout
                out.write(f"credit platform sandbox at {base_url}\n")
                out.write(f"app id:     {settings.app_id}\n")
                out.write(f"app secret: {settings.app_secret}\n")
                if settings.admin_enabled:
                    out.write(f"admin:      http://{shown_host}:{port}/_sandbox\n")
                out.write(f"SANDBOX_READY {base_url}\n")
                out.flush()

    server = _Server(config)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
