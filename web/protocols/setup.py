"""What a tester needs to point a debug build at TrackMaster: ingest URLs, key, a QR code.

The project page's partial (templates/projects/_ingest_setup.html) calls
`ingest_setup(request, project)`, a template global registered here. The QR
code holds `{"url", "httpsUrl"?, "writeKey"}` as JSON, rendered as inline SVG
by segno (no network, no script: it passes the page's CSP).
"""

from __future__ import annotations

import json
from typing import Any

import segno
from markupsafe import Markup
from starlette.requests import Request

from web.templating import environment


def ingest_setup(request: Request, project: Any) -> dict[str, Any]:
    settings = request.app.state.settings
    host = request.url.hostname or "127.0.0.1"
    shown_host = f"[{host}]" if ":" in host else host
    url = f"{request.url.scheme}://{request.url.netloc}"
    https_url = f"https://{shown_host}:{settings.https_port}" if settings.https_port else None
    content = {"url": https_url or url, "writeKey": project.write_key}
    if https_url:
        content["httpUrl"] = url
    # segno writes only the QR modules' geometry: nothing of the text reaches the markup.
    svg = segno.make(json.dumps(content, separators=(",", ":")), error="m").svg_inline(
        scale=4, title="Ingest URL and write key"
    )
    return {"url": url, "https_url": https_url, "qr_svg": Markup(svg), "qr_text": content}


environment.globals["ingest_setup"] = ingest_setup
