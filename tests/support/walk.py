"""Walk every link, htmx GET and form of the pages reachable from `/`, in a real browser.

Each page is opened in Chromium (console errors and uncaught exceptions are collected);
every same-origin link, `hx-get` and GET form it offers is followed; every POST form is
sent as the browser would send it untouched (its hidden and default values), with the
signed-in browser's cookies. Destructive forms then land on their confirm page, empty
forms on their error page: either way a page, never JSON and never a 5xx.

URLs are grouped by shape (numbers stand for ids) so that a matrix of 600 cells costs one
visit, and the walk is bounded in visits.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from playwright.async_api import Error as PlaywrightError

MAX_VISITS = 150
# They would end the walk's own login: posted, every later page was the login page, and
# the walk of a signed-in role quietly covered a third of the pages.
NEVER_POSTED = ("/logout", "/account/signout-all")
_NUMBER = re.compile(r"/\d+")

_OFFERS = """() => {
  const abs = (u) => new URL(u, document.baseURI).href;
  const links = [...document.querySelectorAll("a[href]")].map((a) => ({
    href: a.href, type: a.getAttribute("type") || "", download: a.hasAttribute("download"),
  }));
  const hx = [...document.querySelectorAll("[hx-get]")].map((e) => abs(e.getAttribute("hx-get")));
  const forms = [...document.querySelectorAll("form")].map((f) => {
    const fields = [];
    for (const el of f.elements) {
      if (!el.name || el.disabled || el.type === "file" || el.type === "submit") continue;
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) continue;
      fields.push([el.name, el.value]);
    }
    return { method: (f.getAttribute("method") || "get").toLowerCase(), action: f.action, fields };
  });
  return { links, hx, forms };
}"""


@dataclass
class Walk:
    base: str
    visited: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    _shapes: set[str] = field(default_factory=set)

    def shape(self, url: str) -> str:
        parts = urlsplit(url)
        keys = sorted({key for key, _ in parse_qsl(parts.query)})
        return f"{_NUMBER.sub('/N', parts.path)}?{'&'.join(keys)}"

    def ours(self, url: str) -> bool:
        return url.startswith(self.base + "/")

    def first_of_shape(self, kind: str, url: str) -> bool:
        key = f"{kind} {self.shape(url)}"
        if key in self._shapes:
            return False
        self._shapes.add(key)
        return True


def _is_html(content_type: str) -> bool:
    return content_type.split(";")[0].strip() == "text/html"


async def walk(
    page, base: str, start: str = "/", on_page: Callable[[str], Awaitable[None]] | None = None
) -> Walk:
    """Walk from `start` as the browser context of `page` is signed in; returns what it found.

    `on_page(url)` runs on each page as first loaded, before the walk posts its forms (which
    change what later pages show: a posted "Watch this event" empties its group)."""
    done = Walk(base)
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: console.append(f"uncaught: {exc}"))
    # Console lines about failed loads do not say which URL; this does.
    page.on(
        "response",
        lambda r: console.append(f"{r.status} on {r.url}") if r.status >= 400 else None,
    )
    queue = [base + start]
    done.first_of_shape("page", queue[0])
    while queue and len(done.visited) < MAX_VISITS:
        url = queue.pop(0)
        console.clear()
        try:
            response = await page.goto(url)
        except PlaywrightError as exc:
            # A link that starts a download without saying so (no `download` attribute).
            if "Download is starting" not in str(exc):
                raise
            await _check_download(page, done, url, "")
            continue
        done.visited.append(url)
        if response is None:
            done.problems.append(f"{url}: no response")
            continue
        kind = response.headers.get("content-type", "")
        # A link of ours that leads nowhere (4xx) is as broken as a 5xx.
        if response.status >= 400 or not _is_html(kind):
            done.problems.append(f"{url}: {response.status} {kind}")
            continue
        offers = await page.evaluate(_OFFERS)
        await page.wait_for_timeout(150)  # let deferred scripts and first htmx loads run
        if console:
            done.problems.append(f"{url}: console errors {console[:3]}")
        if on_page is not None:
            await on_page(url)
        for link in offers["links"]:
            href = link["href"].split("#", 1)[0]
            if not done.ours(href):
                continue
            if link["download"] or (link["type"] and link["type"] != "text/html"):
                if done.first_of_shape("download", href):
                    await _check_download(page, done, href, link["type"])
            elif done.first_of_shape("page", href):
                queue.append(href)
        for href in offers["hx"]:
            if done.ours(href) and done.first_of_shape("hx", href):
                await _check_fragment(page, done, href)
        for form in offers["forms"]:
            action = form["action"].split("#", 1)[0]
            if not done.ours(action):
                continue
            if form["method"] == "get":
                query = urlencode([tuple(pair) for pair in form["fields"]])
                target = f"{action.split('?', 1)[0]}?{query}"
                if done.first_of_shape("page", target):
                    queue.append(target)
            elif done.first_of_shape("post", action) and not action.endswith(NEVER_POSTED):
                await _check_post(page, done, action, form["fields"])
    return done


async def _check_download(page, done: Walk, url: str, declared: str) -> None:
    answer = await page.request.get(url)
    done.downloads.append(url)
    kind = answer.headers.get("content-type", "")
    if answer.status != 200 or (declared and not kind.startswith(declared)):
        done.problems.append(f"download {url}: {answer.status} {kind} (declared {declared!r})")


async def _check_fragment(page, done: Walk, url: str) -> None:
    answer = await page.request.get(url, headers={"HX-Request": "true"})
    kind = answer.headers.get("content-type", "")
    if answer.status >= 500 or not _is_html(kind):
        done.problems.append(f"hx-get {url}: {answer.status} {kind}")


async def _check_post(page, done: Walk, url: str, fields: list[list[str]]) -> None:
    # Urlencoded by hand: repeated names (ticked boxes) must all go, as a browser sends them.
    answer = await page.request.post(
        url,
        data=urlencode([tuple(pair) for pair in fields]),
        headers={"Origin": done.base, "Content-Type": "application/x-www-form-urlencoded"},
    )
    done.posted.append(url)
    kind = answer.headers.get("content-type", "")
    if answer.status >= 500 or not _is_html(kind):
        done.problems.append(f"POST {url}: {answer.status} {kind}")
