"""Read a page the way a browser would build it: its elements, event-handler attributes, text."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Parsed:
    tags: list[str] = field(default_factory=list)
    handlers: list[str] = field(default_factory=list)  # on* attributes
    text: str = ""


def parse_html(html: str) -> Parsed:
    found = Parsed()
    chunks: list[str] = []

    class _Reader(HTMLParser):
        def handle_starttag(self, tag, attrs) -> None:
            found.tags.append(tag)
            found.handlers.extend(name for name, _ in attrs if name.startswith("on"))

        def handle_data(self, data) -> None:
            chunks.append(data)

    reader = _Reader()
    reader.feed(html)
    reader.close()
    found.text = "".join(chunks)
    return found
