"""``python -m examples.counter_app --port N``: serve the counter app with uvicorn.

Platform settings come from the ``CREDIT_CHECK_*`` environment variables (or
the flags ``credit-check`` takes). The app listens on loopback by default: it
has no login of its own, so put it behind the agency's sign-on before
opening it to a network.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

import uvicorn

from credit_check_sdk import AsyncCreditChecker
from credit_check_sdk.cli import add_settings, settings_from

from .app import create_app


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, build the checker, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m examples.counter_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    add_settings(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    checker = AsyncCreditChecker(settings_from(args))
    try:
        uvicorn.run(create_app(checker), host=args.host, port=args.port, log_level="info")
    finally:
        asyncio.run(_shut_down(checker))
    return 0


async def _shut_down(checker: AsyncCreditChecker) -> None:
    """Upload what is left (what cannot be stays in the journal), then close."""
    await checker.flush(timeout=10)
    await checker.aclose()


if __name__ == "__main__":
    raise SystemExit(main())
