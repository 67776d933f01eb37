"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl on a free loopback port.

The server binaries come from the machine (Debian's ``postgresql`` package puts
them in ``/usr/lib/postgresql/<major>/bin``; ``.ci/run`` installs it when they
are missing). ``initdb`` refuses to run as root, so when the tests run as root
the cluster is created and run as the unprivileged ``postgres`` user through
``runuser``. The cluster keeps ``fsync`` and ``synchronous_commit`` on: tests of
durability run against the settings a real deployment has.

>>> cluster = PgCluster.start()  # doctest: +SKIP
>>> cluster.create_database("journal")  # doctest: +SKIP
'postgresql://postgres@127.0.0.1:54321/journal'
>>> cluster.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PgCluster", "PgUnavailableError", "find_bindir"]


class PgUnavailableError(RuntimeError):
    """The PostgreSQL server binaries are not on this machine."""


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    ``PG_BINDIR`` wins; then ``pg_config --bindir``; then the newest
    ``/usr/lib/postgresql/*/bin``; then ``initdb`` on ``PATH``.
    """
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                [pg_config, "--bindir"], check=True, capture_output=True, text=True
            )
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
    )
    candidates.extend(Path(p) for p in reversed(versions))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    raise PgUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; "
        "install them with: apt-get install -y postgresql"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PgCluster:
    """One PostgreSQL cluster in a temporary directory, owned by the tests."""

    def __init__(self, bindir: Path, root: Path, port: int, run_as: str | None) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log = root / "server.log"
        self.port = port
        self.run_as = run_as

    # -- life cycle -------------------------------------------------------------------

    @classmethod
    def start(cls, *, bindir: Path | None = None) -> PgCluster:
        """Create a cluster in a fresh temporary directory and start it."""
        bindir = bindir or find_bindir()
        run_as = "postgres" if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="credit-check-pg-"))
        cluster = cls(bindir, root, _free_port(), run_as)
        cluster.sockets.mkdir()
        if run_as is not None:
            entry = pwd.getpwnam(run_as)
            for path in (root, cluster.sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        cluster._run(
            "initdb",
            "-D",
            str(cluster.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-instructions",
        )
        cluster.resume()
        return cluster

    def resume(self) -> None:
        """Start the server (again) on the same port and data directory; waits until it answers."""
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
            " -c fsync=on -c synchronous_commit=on -c max_connections=200"
            " -c shared_buffers=64MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def pause(self, *, mode: str = "fast") -> None:
        """Stop the server, keeping the data (``resume()`` starts it again)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def stop(self) -> None:
        """Stop the server and remove the cluster's directory."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.pause(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def running(self) -> bool:
        """Whether the server answers on its port."""
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    # -- databases --------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for ``database`` on this cluster (user ``postgres``, trust auth)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database; its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql as the superuser; its output (tuples only)."""
        psql = self.bindir / "psql"
        command = str(psql) if psql.exists() else (shutil.which("psql") or "psql")
        out = subprocess.run(
            [
                command,
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
                self.url(database),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout

    # -- plumbing ---------------------------------------------------------------------

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
            raise subprocess.CalledProcessError(
                result.returncode,
                command,
                output=result.stdout,
                stderr=f"{result.stderr}\n--- server log ---\n{log}"
                f"\n(after {time.monotonic() - started:.1f} s)",
            )
