"""Everyday mistakes end in one line naming the fix and a non-zero exit, never a traceback -- run as an
operator would, ``python run.py …`` in a subprocess; and ``doctor`` says what keeps a configuration from
production."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.processes import ROOT, clean_env
from tests.support.net import free_port


def run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def one_line(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'configured.sqlite3'}"


def test_unmigrated_database(tmp_path: Path) -> None:
    env = clean_env(GATEWAY_DATA_DIR=str(tmp_path), GATEWAY_DATABASE_URL=sqlite_url(tmp_path),
                    GATEWAY_SECRET_KEY="k" * 40)
    one_line(run("serve", "--port", str(free_port()), env=env), "python run.py migrate")
    one_line(run("check-ledger", env=env), "python run.py migrate")


def test_unreachable_database(tmp_path: Path) -> None:
    env = clean_env(GATEWAY_DATA_DIR=str(tmp_path), GATEWAY_SECRET_KEY="k" * 40,
                    GATEWAY_DATABASE_URL=f"mysql+aiomysql://root@127.0.0.1:{free_port()}/nowhere")
    one_line(run("serve", "--port", str(free_port()), env=env), "cannot reach the database",
             "GATEWAY_DATABASE_URL")


def test_busy_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(run("serve", "--port", str(port), env=clean_env(GATEWAY_DATA_DIR=str(tmp_path))),
                        str(port), "GATEWAY_PORT")
    assert "in use" in line


def test_missing_or_unreadable_key_file(tmp_path: Path) -> None:
    (tmp_path / "secret.key").mkdir()  # unreadable as a file, whoever runs the tests (root reads anything)
    one_line(run("create-merchant", "--name", "x", env=clean_env(GATEWAY_DATA_DIR=str(tmp_path))),
             "secret.key", "GATEWAY_SECRET_KEY")
    env = clean_env(GATEWAY_DATA_DIR=str(tmp_path), GATEWAY_SECRET_KEY="k" * 40)
    one_line(run("set-channel", "--merchant", "m", "--channel", "alipay", "--credentials",
                 str(tmp_path / "nope.json"), env=env), "nope.json", "missing")


def test_configured_database_needs_the_secret_key(tmp_path: Path) -> None:
    env = clean_env(GATEWAY_DATA_DIR=str(tmp_path), GATEWAY_DATABASE_URL=sqlite_url(tmp_path))
    assert run("migrate", env=env).returncode == 0
    for args in (["create-merchant", "--name", "Shop"], ["rotate-api-key", "--merchant", "mch_x"]):
        one_line(run(*args, env=env), "GATEWAY_SECRET_KEY")
    assert not (tmp_path / "secret.key").exists()  # no key of its own minted


def test_doctor(tmp_path: Path) -> None:
    dev = run("doctor", env=clean_env(GATEWAY_DATA_DIR=str(tmp_path / "dev")))
    assert dev.returncode == 1 and "Traceback" not in dev.stderr
    for failing in ("FAIL public_url", "FAIL sandbox", "FAIL secret_key", "FAIL database"):
        assert failing in dev.stdout, dev.stdout

    url = sqlite_url(tmp_path)
    prod = dict(GATEWAY_DATA_DIR=str(tmp_path), GATEWAY_DATABASE_URL=url, GATEWAY_SECRET_KEY="k" * 40,
                GATEWAY_PUBLIC_URL="https://pay.example.com")
    unmigrated = run("doctor", env=clean_env(**prod))
    assert unmigrated.returncode == 1 and "FAIL migrations" in unmigrated.stdout and "python run.py migrate" in unmigrated.stdout
    assert run("migrate", env=clean_env(**prod)).returncode == 0
    created = run("create-merchant", "--name", "Shop", env=clean_env(**prod))
    assert created.returncode == 0, created.stderr
    ready = run("doctor", env=clean_env(**prod))
    assert ready.returncode == 0, ready.stdout
    for good in ("ok   public_url", "ok   sandbox", "ok   migrations", "ok   clock", "ok   secret_key_stable"):
        assert good in ready.stdout, ready.stdout
    moved = run("doctor", env=clean_env(**{**prod, "GATEWAY_SECRET_KEY": "another-key" * 4}))
    assert moved.returncode == 1 and "FAIL secret_key_stable" in moved.stdout, moved.stdout
    no_redis = run("doctor", env=clean_env(**prod, GATEWAY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"))
    assert no_redis.returncode == 1 and "FAIL redis" in no_redis.stdout and "GATEWAY_REDIS_URL" in no_redis.stdout


def test_doctor_tries_each_channel_account(tmp_path: Path) -> None:
    """Accounts whose channel does not answer are named, each with the credential check's problem."""
    from tests.factories import seed_sandbox_keys

    seed_sandbox_keys(tmp_path)
    env = clean_env(GATEWAY_DATA_DIR=str(tmp_path), GATEWAY_DATABASE_URL=sqlite_url(tmp_path),
                    GATEWAY_SECRET_KEY="k" * 40, GATEWAY_PUBLIC_URL="https://pay.example.com",
                    GATEWAY_SANDBOX_URL=f"http://127.0.0.1:{free_port()}/sandbox", GATEWAY_CHANNEL_TIMEOUT="2")
    assert run("migrate", env=env).returncode == 0
    assert run("create-merchant", "--name", "Shop", env=env).returncode == 0  # with sandbox accounts
    done = run("doctor", env=env)
    assert done.returncode == 1 and "FAIL sandbox" in done.stdout, done.stdout
    for channel in ("alipay", "wechat", "unionpay"):
        assert f"FAIL channel {channel} " in done.stdout and "unreachable" in done.stdout, done.stdout
