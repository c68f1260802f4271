"""The processes a benchmark run starts: the gateway (``python run.py``), the bare reference server and
the load generator -- each its own OS process, started and stopped by the runner alone (by pid)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MYSQL_URL = "mysql+aiomysql://root@127.0.0.1:3306/test_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any GATEWAY_* setting (so the outer shell cannot change what
    is measured), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {seconds}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # aiohttp's run_app shuts down cleanly on SIGINT
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def drop_all_tables(url: str) -> None:
    """Empty the benchmark's MariaDB database (it must be one the run may wipe)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("+aiomysql", "+pymysql"))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
            for (name,) in conn.execute(sa.text("SHOW TABLES")).all():
                conn.execute(sa.text(f"DROP TABLE `{name}`"))
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
    finally:
        engine.dispose()


def rss_kib(pid: int) -> int:
    """Resident memory of a process (Linux /proc), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Reference:
    size: int
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Reference:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.bench.reference", "--port", str(self.port),
                                      "--bytes", str(self.size)], cwd=ROOT, env=clean_env())
        wait_http(f"{self.url}/ref", self.proc)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            stop(self.proc)


@dataclass
class GatewayProcess:
    """``python run.py`` on a free port over a fresh data dir; on MariaDB over a freshly reset database.

    A bench merchant (with the sandbox channel accounts) is created before the server starts, so the
    embedded default's demo merchant is not created and every callback finds exactly one account."""

    db: str                                  # sqlite | mysql
    mysql_url: str = DEFAULT_MYSQL_URL
    redis_url: str | None = None
    background: bool = False
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    merchant: dict[str, Any] = field(default_factory=dict)
    data_dir: Path | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        assert self.data_dir is not None
        if self.db == "mysql":
            return self.mysql_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'gateway.sqlite3'}"

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.merchant['api_key']}", "Content-Type": "application/json"}

    def env(self) -> dict[str, str]:
        extra = {"GATEWAY_BACKGROUND": "1" if self.background else "0", "GATEWAY_LOG_LEVEL": "WARNING",
                 "GATEWAY_SANDBOX": "1",
                 # the limiter stays in the request path (its cost is measured) but never refuses the load
                 "GATEWAY_RATE_LIMIT": "1000000000"}
        if self.db == "mysql":
            extra["GATEWAY_DATABASE_URL"] = self.mysql_url
            if self.redis_url:
                extra["GATEWAY_REDIS_URL"] = self.redis_url
        return clean_env(**extra)

    def __enter__(self) -> GatewayProcess:
        self._tmp = tempfile.TemporaryDirectory(prefix="gateway-bench-")
        self.data_dir = Path(self._tmp.name) / "data"
        flags = ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.db == "mysql":
            drop_all_tables(self.mysql_url)
            subprocess.run([sys.executable, "run.py", "migrate", *flags], cwd=ROOT, env=self.env(), check=True,
                           capture_output=True)
        out = subprocess.run([sys.executable, "run.py", "create-merchant", *flags, "--name", "Bench Shop",
                              "--return-domain", "127.0.0.1"], cwd=ROOT, env=self.env(), check=True,
                             capture_output=True, text=True).stdout
        self.merchant = json.loads(out.strip().splitlines()[-1])
        # The server's log goes to a file: a load generator ending a run mid-request makes it log the
        # dropped connections, which would drown the runner's own output.
        log = self.data_dir.parent / "gateway.log"
        with log.open("wb") as fh:
            self.proc = subprocess.Popen([sys.executable, "run.py", *flags], cwd=ROOT, env=self.env(),
                                         stdout=subprocess.DEVNULL, stderr=fh)
        try:
            wait_http(f"{self.url}/readyz", self.proc)
        except RuntimeError:
            sys.stderr.write(log.read_text()[-3000:])
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            stop(self.proc)
        if self._tmp:
            self._tmp.cleanup()

    def sandbox_keys(self) -> dict[str, Any]:
        assert self.data_dir is not None
        return json.loads((self.data_dir / "sandbox-keys.json").read_text())

    async def api(self, http: aiohttp.ClientSession, method: str, path: str,
                  body: dict[str, Any] | None = None) -> tuple[int, Any]:
        async with http.request(method, f"{self.url}/api/v1{path}", headers=self.api_headers,
                                data=json.dumps(body) if body is not None else None) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None


def run_load(plan: dict[str, Any]) -> dict[str, Any]:
    """Run the load generator as its own process; its JSON result."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(plan, fh)
        path = fh.name
    try:
        out = subprocess.run([sys.executable, "-m", "tests.bench.load", path], cwd=ROOT, env=clean_env(),
                             check=True, capture_output=True, text=True).stdout
    finally:
        Path(path).unlink(missing_ok=True)
    return json.loads(out.strip().splitlines()[-1])
