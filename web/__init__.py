"""The web door: Starlette app, HTML pages (HTMX), the /api/v3 JSON API, ingest, SSE."""
