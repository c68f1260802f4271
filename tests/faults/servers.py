"""Redis and MariaDB servers of the fault tests' own: started, stopped, frozen (SIGSTOP), flushed, killed
and restarted by the test -- never the shared ones other tests use. Loopback only."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.net import free_port


def _wait_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


@dataclass
class Server:
    """One server process on a fixed port, restartable on the same port."""
    name: str
    port: int
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    frozen: bool = field(default=False)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already running"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        _wait_port(self.port)

    def stop(self) -> None:
        """A clean stop (SIGTERM), waited for."""
        self.thaw()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def kill(self) -> None:
        """SIGKILL: the process dies on the spot, as in a crash."""
        self.thaw()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def freeze(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        if self.frozen and self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.frozen = False


def redis_server(tmp: Path) -> Server:
    port = free_port()
    server = Server("redis", port, ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", str(tmp)], tmp / "redis.log")
    server.start()
    return server


def redis_url(server: Server, db: int = 0) -> str:
    return f"redis://127.0.0.1:{server.port}/{db}"


def flush(server: Server) -> None:
    subprocess.run(["redis-cli", "-p", str(server.port), "FLUSHALL"], check=True, capture_output=True, timeout=10)


def mariadb_server(tmp: Path) -> Server:
    data = tmp / "mariadb"
    if data.exists():
        shutil.rmtree(data)
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                    "--skip-test-db", "--user=root"], check=True, capture_output=True, timeout=120)
    port = free_port()
    server = Server("mariadb", port, [
        shutil.which("mariadbd") or "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}", f"--port={port}",
        "--bind-address=127.0.0.1", f"--socket={tmp / 'mariadb.sock'}", "--user=root", "--skip-log-bin",
        "--innodb-buffer-pool-size=32M", "--max-connections=300", "--skip-name-resolve"], tmp / "mariadb.log")
    server.start()
    return server


def mysql_url(server: Server, database: str) -> str:
    """With the async driver the tests' MariaDB URL names (``GATEWAY_TEST_MYSQL_URL``), aiomysql by default."""
    driver = os.environ.get("GATEWAY_TEST_MYSQL_URL", "mysql+aiomysql://").split("://", 1)[0]
    return f"{driver}://root@127.0.0.1:{server.port}/{database}"


def create_database(server: Server, database: str) -> str:
    """A fresh, migrated database on ``server``; its URL."""
    from tests.factories import reset_mysql

    subprocess.run(["mysql", "-uroot", "-h127.0.0.1", f"-P{server.port}", "-e",
                    f"CREATE DATABASE IF NOT EXISTS `{database}`"], check=True, capture_output=True, timeout=30)
    url = mysql_url(server, database)
    reset_mysql(url)
    return url
