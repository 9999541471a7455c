"""The web door: Starlette app, HTML pages (HTMX), the /api/v2 JSON API, ingest, SSE."""
