"""SIGTERM drains: the listener closes at once, and a request on a connection already open is still
answered -- with ``Connection: close``, so a proxy never sends another on a connection we are closing."""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.processes import clean_env, run_py
from tests.support.net import free_port

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"


async def _answer(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
    status, *lines = head.strip().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    await reader.readexactly(int(headers["content-length"]))
    return status, headers


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def test_a_kept_alive_connection_is_answered_then_closed_after_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(GATEWAY_DATA_DIR=str(tmp_path), GATEWAY_BACKGROUND="0")
    with run_py("serve", port=port, env=env, log=tmp_path / "serve.log") as proc:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        status, headers = await _answer(reader)
        assert status.endswith("200 OK") and headers.get("connection", "").lower() != "close"

        proc.send_signal(signal.SIGTERM)
        for _ in range(100):  # the listener closes first; draining starts right after
            if await _refused(port):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the listener stayed open after SIGTERM")
        await asyncio.sleep(0.2)
        writer.write(REQUEST)
        status, headers = await _answer(reader)
        assert status.endswith("200 OK") and headers["connection"].lower() == "close"
        assert headers["x-request-id"] and headers["x-frame-options"] == "DENY"
        assert await asyncio.wait_for(reader.read(), 10) == b""  # then we close it
        writer.close()
        assert await asyncio.to_thread(proc.wait, 20) == 0
