"""Server-rendered pages; HTMX requests get fragments (templates starting with `_`)."""
