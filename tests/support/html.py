"""Read a page the way a browser would build it: its elements, event-handler attributes, text."""

from __future__ import annotations

from collections.abc import Iterator
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


# Elements that never have content or an end tag.
_VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
})  # fmt: skip


@dataclass(eq=False)
class Element:
    """One element of a parsed page: its tag, attributes, and children (elements or text)."""

    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return self.attrs.get(name)

    def classes(self) -> list[str]:
        return (self.get("class") or "").split()

    def iter(self) -> Iterator[Element]:
        """This element and every element inside it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """The elements (this one included) with this tag and these exact attribute values;
        `class_` matches one of the element's classes."""
        wanted_class = attrs.pop("class_", None)
        return [
            e
            for e in self.iter()
            if (tag is None or e.tag == tag)
            and all(e.get(name) == value for name, value in attrs.items())
            and (wanted_class is None or wanted_class in e.classes())
        ]

    def find(self, tag: str | None = None, **attrs: str) -> Element | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def by_id(self, element_id: str) -> Element:
        found = self.find(id=element_id)
        assert found is not None, f"no element with id {element_id!r}"
        return found

    def text(self) -> str:
        """All the text inside, as the browser would show it (before CSS and whitespace)."""
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def tags(self) -> list[str]:
        return [e.tag for e in self.iter() if e.tag != "#document"]


def parse_tree(html: str) -> Element:
    """The page as a tree of Elements under a "#document" root (HTMLParser, no repair beyond
    closing what an end tag closes: enough for our templates and for escaped input)."""
    root = Element("#document")
    stack = [root]

    class _Builder(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            element = Element(tag, dict(attrs))
            stack[-1].children.append(element)
            if tag not in _VOID:
                stack.append(element)

        def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            stack[-1].children.append(Element(tag, dict(attrs)))

        def handle_endtag(self, tag: str) -> None:
            for depth in range(len(stack) - 1, 0, -1):
                if stack[depth].tag == tag:
                    del stack[depth:]
                    return

        def handle_data(self, data: str) -> None:
            stack[-1].children.append(data)

    builder = _Builder(convert_charrefs=True)
    builder.feed(html)
    builder.close()
    return root
