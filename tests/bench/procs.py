"""The processes a benchmark run starts: the gateway (``python run.py``), the bare reference server, the
peer (a shop's own SDK-based callback handler) and the load generator -- each its own OS process,
started and stopped by the runner alone (by pid)."""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.net import free_port
from tests.support.urls import sync_mysql

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MYSQL_URL = "mysql+aiomysql://root@127.0.0.1:3306/test_bench"


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

    engine = sa.create_engine(sync_mysql(url))
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
class Receiver:
    """The webhook receiver (``tests/bench/receiver.py``) in its own process."""

    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Receiver:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.bench.receiver", "--port", str(self.port)],
                                     cwd=ROOT, env=clean_env())
        wait_http(f"{self.url}/ready", self.proc)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            stop(self.proc)

    async def stats(self, http: aiohttp.ClientSession) -> dict[str, dict[str, Any]]:
        async with http.get(f"{self.url}/stats") as resp:
            return await resp.json()

    async def reset(self, http: aiohttp.ClientSession) -> None:
        async with http.post(f"{self.url}/reset") as resp:
            await resp.read()


@dataclass
class Peer:
    """The shop's own callback handler (``tests/bench/peer.py``) in its own process, over the database
    of a gateway's run and with that gateway's sandbox keys."""

    keys: Path
    database_url: str
    driver: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Peer:
        args = [sys.executable, "-m", "tests.bench.peer", "--port", str(self.port), "--keys", str(self.keys),
                "--database", self.database_url]
        if self.driver:
            args += ["--driver", self.driver]
        self.proc = subprocess.Popen(args, cwd=ROOT, env=clean_env())
        wait_http(f"{self.url}/ready", self.proc)
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
    settings: dict[str, str] = field(default_factory=dict)  # extra GATEWAY_* variables
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    merchant: dict[str, Any] = field(default_factory=dict)
    data_dir: Path | None = None
    # a configured database needs the servers' master key, shared by the CLI commands and the server
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
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
                 "GATEWAY_RATE_LIMIT": "1000000000", "GATEWAY_ANON_IP_LIMIT": "0", "GATEWAY_ANON_LINK_LIMIT": "0",
                 "GATEWAY_ANON_SWITCH_LIMIT": "0"}
        if self.db == "mysql":
            extra["GATEWAY_DATABASE_URL"] = self.mysql_url
            extra["GATEWAY_SECRET_KEY"] = self.secret_key
            if self.redis_url:
                extra["GATEWAY_REDIS_URL"] = self.redis_url
        return clean_env(**extra, **self.settings)

    @property
    def _flags(self) -> list[str]:
        return ["--port", str(self.port), "--data-dir", str(self.data_dir)]

    def __enter__(self) -> GatewayProcess:
        self._tmp = tempfile.TemporaryDirectory(prefix="gateway-bench-")
        self.data_dir = Path(self._tmp.name) / "data"
        if self.db == "mysql":
            drop_all_tables(self.mysql_url)
            subprocess.run([sys.executable, "run.py", "migrate", *self._flags], cwd=ROOT, env=self.env(), check=True,
                           capture_output=True)
        self.merchant = self.create_merchant("Bench Shop")
        self._serve()
        return self

    def create_merchant(self, name: str, *flags: str) -> dict[str, Any]:
        """``python run.py create-merchant`` (with the sandbox channel accounts); its credentials."""
        out = subprocess.run([sys.executable, "run.py", "create-merchant", *self._flags, "--name", name,
                              "--return-domain", "127.0.0.1", *flags], cwd=ROOT, env=self.env(), check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    def restart(self, *, background: bool | None = None, **settings: str) -> None:
        """Stop the server and start it again over the same data, with background work switched and
        ``settings`` (GATEWAY_* variables) added."""
        assert self.proc is not None
        stop(self.proc)
        if background is not None:
            self.background = background
        self.settings = {**self.settings, **settings}
        self._serve()

    def _serve(self) -> None:
        # The server's log goes to a file: a load generator ending a run mid-request makes it log the
        # dropped connections, which would drown the runner's own output.
        assert self.data_dir is not None
        log = self.data_dir.parent / "gateway.log"
        with log.open("ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "run.py", *self._flags], cwd=ROOT, env=self.env(),
                                         stdout=subprocess.DEVNULL, stderr=fh)
        try:
            wait_http(f"{self.url}/readyz", self.proc)
        except RuntimeError:
            sys.stderr.write(log.read_text()[-3000:])
            raise

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            stop(self.proc)
        if self._tmp:
            self._tmp.cleanup()

    @property
    def sandbox_keys_path(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "sandbox-keys.json"

    def sandbox_keys(self) -> dict[str, Any]:
        return json.loads(self.sandbox_keys_path.read_text())

    async def api(self, http: aiohttp.ClientSession, method: str, path: str,
                  body: dict[str, Any] | None = None, *, api_key: str | None = None) -> tuple[int, Any]:
        """One merchant API call, as the bench merchant or as the merchant whose ``api_key`` is given."""
        headers = self.api_headers
        if api_key:
            headers = {**headers, "Authorization": f"Bearer {api_key}"}
        async with http.request(method, f"{self.url}/api/v1{path}", headers=headers,
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
