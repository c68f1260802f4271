"""A minimal local SMTP server (RFC 5321's happy path, no TLS, no auth) that keeps what it receives: the
alert e-mails' receiver."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message

from tests.support.net import free_port


@dataclass
class Mailbox:
    port: int
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)  # sender, recipients, message

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sender, recipients = "", []

        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        await say("220 localhost test SMTP")
        while line := await reader.readline():
            verb = line.decode().strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                await say("250 localhost")
            elif verb == "MAIL":
                sender = line.decode().split(":", 1)[1].strip().strip("<>")
                await say("250 OK")
            elif verb == "RCPT":
                recipients.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                await say("250 OK")
            elif verb == "DATA":
                await say("354 end with .")
                data = bytearray()
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.messages.append((sender, recipients, message_from_bytes(bytes(data))))
                sender, recipients = "", []
                await say("250 queued")
            elif verb == "QUIT":
                await say("221 bye")
                break
            else:
                await say("250 OK")
        writer.close()


@asynccontextmanager
async def mailbox() -> AsyncIterator[Mailbox]:
    box = Mailbox(free_port())
    server = await asyncio.start_server(box.session, "127.0.0.1", box.port)
    try:
        yield box
    finally:
        server.close()
        await server.wait_closed()
