"""Bills to disk: a channel's download streamed into a file while hashed, never held in memory.

Shared by the channel packages (each parses its own format); the core only sees :class:`BillFile`.
"""
from __future__ import annotations

import hashlib
import zlib
from pathlib import Path
from typing import IO

import aiohttp

from gateway.channels.base import BillFile, BillUnavailable

CHUNK = 1 << 16


class Sink:
    """Writes chunks to ``dest`` (via a temporary name, renamed on :meth:`done`) while hashing them;
    ``inner_sha1`` also hashes the content inside a gzip stream (what WeChat's ``hash_value`` covers)."""

    def __init__(self, dest: Path, *, inner_sha1: bool = False) -> None:
        self.dest = dest
        self._tmp = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] = self._tmp.open("wb")
        self._sha256 = hashlib.sha256()
        self._inner = hashlib.sha1() if inner_sha1 else None
        self._gunzip: zlib._Decompress | None = None
        self._plain: bool | None = None
        self.size = 0

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._fh.write(chunk)
        self._sha256.update(chunk)
        self.size += len(chunk)
        if self._inner is None:
            return
        if self._plain is None:  # decided on the first bytes: gzip magic or a plain file
            self._plain = chunk[:2] != b"\x1f\x8b"
            if not self._plain:
                self._gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            self._inner.update(chunk if self._gunzip is None else self._gunzip.decompress(chunk))
        except zlib.error as exc:
            raise BillUnavailable("malformed", "bad gzip") from exc

    def inner_sha1(self) -> str:
        assert self._inner is not None
        if self._gunzip is not None:
            self._inner.update(self._gunzip.flush())
        return self._inner.hexdigest()

    def done(self, channel_hash: str | None = None) -> BillFile:
        self._fh.close()
        self._tmp.replace(self.dest)
        return BillFile(self.dest, self._sha256.hexdigest(), self.size, channel_hash)

    def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)


async def save_response(resp: aiohttp.ClientResponse, sink: Sink) -> None:
    """Copy a response body into ``sink`` chunk by chunk (a 1,000,000-line bill is tens of MB)."""
    async for chunk in resp.content.iter_chunked(CHUNK):
        sink.write(chunk)


def is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"
