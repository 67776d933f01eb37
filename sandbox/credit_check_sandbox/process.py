"""Run the sandbox platform as a real subprocess, for tests, demos and benchmarks.

>>> with SandboxProcess(seed_size=500) as sandbox:  # doctest: +SKIP
...     r = sandbox.request("GET", "/v1/health")
...     r.json()["status"]
'ok'

The process is started as ``python -m credit_check_sandbox --port 0 …``;
:class:`SandboxProcess` waits for its ``SANDBOX_READY <base_url>`` line, and
stops it (terminate, then kill) on exit, at interpreter exit, or when the
object is garbage-collected, so a failing test does not leak servers.
"""

from __future__ import annotations

import json as json_module
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import requests

from credit_check_sdk.signing import signed_headers

if TYPE_CHECKING:
    from credit_check_sdk import AsyncCreditChecker, CreditChecker

__all__ = ["SandboxProcess", "SandboxStartError"]

logger = logging.getLogger(__name__)

_READY = "SANDBOX_READY "


class SandboxStartError(RuntimeError):
    """The sandbox process did not get ready (its log tail is in the message)."""


def _stop(proc: subprocess.Popen[str], workdir: str | None) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


class SandboxProcess:
    """A sandbox platform in a subprocess.

    Args:
        seed_size: subjects to seed (small is fast: 2,000 seed in well under a second).
        seed: random seed of the data.
        app_id: the agency's app id the sandbox accepts.
        app_secret: its signing secret.
        agency_id: the agency id its journal records must name (default: ``app_id``).
        admin: enable the ``/_sandbox`` admin endpoints (default on).
        db_path: database file; default a fresh one in a temporary directory.
        extra_args: more command-line options (``["--rate-limit", "5"]`` …).
        ready_timeout: seconds to wait for ``SANDBOX_READY``.

    Attributes ``base_url`` (``http://127.0.0.1:PORT/api``), ``root_url``,
    ``app_id``, ``app_secret``, ``agency_id`` and ``log_path`` are set once started.
    """

    def __init__(
        self,
        *,
        seed_size: int = 2000,
        seed: int = 20181130,
        app_id: str = "sandbox-agency",
        app_secret: str = "sandbox-secret",  # noqa: S107 - the sandbox's documented demo secret
        agency_id: str | None = None,
        admin: bool = True,
        db_path: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 120.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.seed_size = seed_size
        self.seed = seed
        self.app_id = app_id
        self.app_secret = app_secret
        self.agency_id = agency_id or app_id
        self.admin_enabled = admin
        self._db_path = Path(db_path) if db_path is not None else None
        self.extra_args = list(extra_args)
        self.ready_timeout = ready_timeout
        self.env = dict(env) if env is not None else None
        self.base_url = ""
        self.root_url = ""
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._session = requests.Session()

    # --- life cycle -------------------------------------------------------------

    def start(self) -> SandboxProcess:
        """Start the process and wait until it listens; returns ``self``."""
        if self._proc is not None:
            return self
        workdir = tempfile.mkdtemp(prefix="credit-sandbox-")
        db_path = self._db_path or Path(workdir) / "sandbox.db"
        self.log_path = Path(workdir) / "sandbox.log"
        cmd = [
            sys.executable,
            "-m",
            "credit_check_sandbox",
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--db",
            str(db_path),
            "--seed",
            str(self.seed),
            "--seed-size",
            str(self.seed_size),
            "--app-id",
            self.app_id,
            "--app-secret",
            self.app_secret,
            "--agency-id",
            self.agency_id,
            "--log-level",
            "warning",
            *self.extra_args,
        ]
        if self.admin_enabled:
            cmd.append("--admin")
        env = {**os.environ, **(self.env or {}), "PYTHONUNBUFFERED": "1"}
        log = self.log_path.open("w", encoding="utf-8")
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env, start_new_session=True
            )
        finally:
            log.close()
        self._proc = proc
        # Keep the workdir when the caller chose the database file's place.
        self._finalizer = weakref.finalize(self, _stop, proc, workdir)
        assert proc.stdout is not None  # noqa: S101 - set by stdout=PIPE
        base_url = self._wait_ready(proc, proc.stdout)
        self.base_url = base_url
        parts = urlsplit(base_url)
        self.root_url = f"{parts.scheme}://{parts.netloc}"
        threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
        logger.info("sandbox process %d ready at %s", proc.pid, base_url)
        return self

    def _wait_ready(self, proc: subprocess.Popen[str], stdout: IO[str]) -> str:
        found: list[str] = []

        def read() -> None:
            for line in stdout:
                if line.startswith(_READY):
                    found.append(line[len(_READY) :].strip())
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.ready_timeout)
        if found:
            return found[0]
        self.stop()
        raise SandboxStartError(
            f"the sandbox did not get ready within {self.ready_timeout:g} s "
            f"(exit code {proc.poll()}); log tail:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the process's log (stderr)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the process (terminate, then kill) and remove its temporary files."""
        self._session.close()
        if self._finalizer is not None:
            self._finalizer()
        self._proc = None

    @property
    def pid(self) -> int | None:
        """The process id, while running."""
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- helpers ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> requests.Response:
        """A signed request to the API; ``path`` is relative to the base URL (``/v1/health``).

        >>> sandbox.request("GET", "/v1/catalog").headers["ETag"]  # doctest: +SKIP
        '"…"'
        """
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params or [])
        body = (
            data
            if data is not None
            else (json_module.dumps(json, ensure_ascii=False).encode() if json is not None else b"")
        )
        req = requests.Request(
            method, self.base_url + path, params=pairs or None, data=body or None
        )
        prepared = self._session.prepare_request(req)
        url = urlsplit(prepared.url or "")
        signed = signed_headers(
            app_id=self.app_id,
            app_secret=self.app_secret,
            method=method,
            path=url.path,
            query=parse_qsl(url.query, keep_blank_values=True),
            body=body,
        )
        prepared.headers.update(signed)
        if body:
            prepared.headers.setdefault("Content-Type", "application/json")
        prepared.headers.update(headers or {})
        return self._session.send(prepared, timeout=timeout, **kwargs)

    def admin(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        """Call an admin endpoint (``path`` below ``/_sandbox``) and return its JSON.

        Raises :class:`requests.HTTPError` on an error status.

        >>> sandbox.admin("PUT", "/faults", json={"outage": True})  # doctest: +SKIP
        {'latency_ms': 0, 'error_rate': 0.0, 'error_status': 503, 'outage': True, ...}
        """
        response = self._session.request(
            method,
            f"{self.root_url}/_sandbox{path}",
            json=json,
            timeout=kwargs.pop("timeout", 30.0),
            **kwargs,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def checker(self, data_dir: str | Path, **settings: Any) -> CreditChecker:
        """A :class:`~credit_check_sdk.CreditChecker` wired to this sandbox.

        The checker files its records under the sandbox's agency id. ``settings`` override the
        defaults (``timeout=5.0``).

        >>> with SandboxProcess() as sandbox, sandbox.checker(tmp) as checker:  # doctest: +SKIP
        ...     checker.must_check("91442000MA4UC00019", "bidding").outcome
        <Outcome.RESTRICTION: 'restriction'>
        """
        from credit_check_sdk import CreditChecker

        return CreditChecker(**self._settings(data_dir, settings))

    def async_checker(self, data_dir: str | Path, **settings: Any) -> AsyncCreditChecker:
        """An :class:`~credit_check_sdk.AsyncCreditChecker` wired to this sandbox (as
        :meth:`checker`; needs the ``async`` extra).

        >>> checker = sandbox.async_checker(tmp)  # doctest: +SKIP
        >>> (await checker.must_check("91442000MA4UC00019", "bidding")).outcome  # doctest: +SKIP
        <Outcome.RESTRICTION: 'restriction'>
        """
        from credit_check_sdk import AsyncCreditChecker

        return AsyncCreditChecker(**self._settings(data_dir, settings))

    def _settings(self, data_dir: str | Path, settings: dict[str, Any]) -> dict[str, Any]:
        """A checker's settings for this sandbox: its credentials, ``timeout=5.0``, then
        ``settings`` over them."""
        return {
            "base_url": self.base_url,
            "app_id": self.app_id,
            "app_secret": self.app_secret,
            "agency_id": self.agency_id,
            "data_dir": data_dir,
            "timeout": 5.0,
            **settings,
        }

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Poll ``predicate()`` until true (helper for tests)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            time.sleep(0.05)


def _drain(stream: IO[str]) -> None:
    try:
        for _ in stream:
            pass
    except (ValueError, OSError):  # closed while reading: the process stopped
        return
