"""Private PostgreSQL 15 and Redis servers on loopback, for the tests and the load test.

Each lives in its own temp folder on a free port and can be stopped and started again on the
same port and data (a restart under load is one of the load test's faults). PostgreSQL refuses
to run as root: as root, `initdb` and `pg_ctl` run as the `postgres` user (`runuser`) in a
folder that user owns. Debian's `postgresql-15` and `redis-server` provide the binaries.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("XIAOER_PG_BIN", "/usr/lib/postgresql/15/bin"))


class ServerMissing(RuntimeError):
    """The server's binaries are not installed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 10.0, alive: object = None) -> None:
    """Until something accepts connections on 127.0.0.1:`port`; RuntimeError after `timeout`
    seconds, or as soon as `alive()` (if given) says the process died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if callable(alive) and not alive():
                raise RuntimeError(f"the server on port {port} exited while starting") from None
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"nothing answers on port {port} after {timeout:.0f} s"
                ) from None
            time.sleep(0.05)


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class LocalPostgres:
    """`initdb` once, then `start()` / `stop()` as often as needed; `close()` removes it all."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise ServerMissing(
                f"PostgreSQL 15 binaries not found in {PG_BIN} (apt-get install postgresql-15)"
            )
        self.root = Path(tempfile.mkdtemp(prefix="xiaoer-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._pg(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-sync", "--locale=C",
        )  # fmt: skip

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run(_as_owner([str(PG_BIN / tool), *args]), check=True, capture_output=True)

    def start(self, max_connections: int = 200) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            f" -c max_connections={max_connections}"
        )
        self._pg(
            "pg_ctl", "-D", str(self.data), "-o", options, "-w", "-l", str(self.root / "log"),
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast` closes the sessions; `immediate` is a crash (recovery on the next start)."""
        subprocess.run(
            _as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop"]),
            capture_output=True,
        )

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class LocalRedis:
    """A `redis-server` with persistence off; `stop()` then `start()` keeps its port (and, with
    persistence off, loses what it held — as a restarted cache does)."""

    def __init__(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise ServerMissing("redis-server not found (apt-get install redis-server)")
        self.server = server
        self.root = Path(tempfile.mkdtemp(prefix="xiaoer-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        proc = self.proc
        wait_for_port(self.port, alive=lambda: proc.poll() is None)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
