"""The bytes of a live stream on the wire: deflated once per frame, for every viewer alike.

A frame of a busy session is mostly the same markup over and over (a cell swap
per changed cell, log rows): 100-200 KB of HTML that deflate shrinks about
tenfold. Sent as it is to 300 viewers four times a second it is the server's
(and the viewers') main cost, so a stream whose client accepts `deflate`
(every browser; httpx) gets raw deflate (RFC 1951; Content-Encoding: deflate).

A compressed stream is normally one compressor per connection, which would
mean one compression per viewer. Instead each frame is compressed once, by a
fresh compressor ended with a sync flush: its bytes are whole deflate blocks
that refer to nothing before them and end on a byte boundary, so the same
bytes continue any viewer's stream wherever it is. What differs per viewer
(its `id:` line, the first message's `retry:`) goes in a stored block, which
costs no compression at all. The stream ends with an empty final block.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

# zlib's default: about 3 ms for a 200 KB frame, once per frame whatever the viewers.
LEVEL = 6
# A final block with nothing in it: the end of a deflate stream.
END = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH)
_STORED_MAX = 0xFFFF


def deflate(data: bytes) -> bytes:
    """`data` as whole, self-contained deflate blocks, byte aligned, none of them final."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def stored(data: bytes) -> bytes:
    """`data` as stored (uncompressed) deflate blocks: for the few bytes that differ per viewer."""
    out = []
    for start in range(0, len(data), _STORED_MAX):
        piece = data[start : start + _STORED_MAX]
        # Not final, type 00 (stored), padded to the byte; then LEN and its complement.
        out.append(b"\x00" + struct.pack("<HH", len(piece), len(piece) ^ 0xFFFF) + piece)
    return b"".join(out)


def accepts_deflate(accept_encoding: str) -> bool:
    for coding in accept_encoding.lower().split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip() == "deflate":
            quality = params.strip().removeprefix("q=")
            return not params or quality.strip() not in ("0", "0.0", "0.00", "0.000")
    return False


@dataclass(slots=True)
class Chunk:
    """Bytes that many streams send alike (a frame's data, a gap's rows): deflated once."""

    data: bytes
    _deflated: bytes | None = None
    # The whole message per prefix (`id:` and `retry:` lines) and encoding, as last sent:
    # the viewers in step with the feed share one prefix, so they share these bytes too.
    _sent: dict[tuple[bytes, bool], bytes] = field(default_factory=dict)

    def deflated(self) -> bytes:
        if self._deflated is None:
            self._deflated = deflate(self.data)
        return self._deflated


class Wire:
    """One stream's encoding: plain, or raw deflate built from shared per-frame blocks."""

    def __init__(self, deflated: bool) -> None:
        self.deflated = deflated

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Encoding": "deflate", "Vary": "Accept-Encoding"} if self.deflated else {}

    def text(self, data: bytes) -> bytes:
        """A message of this stream alone (a ping, the hello line, `done`)."""
        return stored(data) if self.deflated else data

    def chunk(self, chunk: Chunk, prefix: bytes = b"") -> bytes:
        key = (prefix, self.deflated)
        sent = chunk._sent.get(key)
        if sent is None:
            if len(chunk._sent) > 8:  # viewers out of step: keep only the newest few
                chunk._sent.clear()
            body = chunk.deflated() if self.deflated else chunk.data
            sent = chunk._sent[key] = self.text(prefix) + body if prefix else body
        return sent

    def end(self) -> bytes:
        return END if self.deflated else b""
