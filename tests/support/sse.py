"""Read a text/event-stream as a browser would: messages with id, event, data, and comments."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx


@dataclass
class Message:
    id: str | None = None
    event: str | None = None
    data: str = ""
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def is_ping(self) -> bool:
        return bool(self.comments) and not self.data and self.event is None


async def messages(response: httpx.Response) -> AsyncIterator[Message]:
    """Each dispatched message; comment-only blocks (pings) come as messages with `comments`."""
    current, data = Message(), []
    async for line in response.aiter_lines():
        if line == "":
            current.data = "\n".join(data)
            if data or current.comments or current.event or current.retry is not None:
                yield current
            current, data = Message(), []
            continue
        if line.startswith(":"):
            current.comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "id":
            current.id = value
        elif name == "event":
            current.event = value
        elif name == "retry":
            current.retry = int(value)


async def next_message(
    stream: AsyncIterator[Message], *, timeout_s: float = 10, pings: bool = False
) -> Message:
    """The next message with data or an event (pings skipped unless asked for)."""
    async with asyncio.timeout(timeout_s):
        async for message in stream:
            if message.is_ping and not pings:
                continue
            if message.retry is not None and not message.data and message.event is None:
                continue
            return message
    raise EOFError("the stream ended")
