"""Write keys never reach the access log: uvicorn's access lines are rewritten before output.

A write key travels in the query (`?writeKey=`, GA4's `api_secret`, Snowplow's
`aid`, PostHog's `token`/`api_key`) or in the path of Segment's settings
document (`/v1/projects/KEY/settings`); whoever reads the logs must not be
able to post as the project. The filter replaces those values with `***`.
"""

from __future__ import annotations

import logging
import re

SECRET_QUERY = ("writeKey", "write_key", "api_secret", "api_key", "apiKey", "token", "aid")
_QUERY = re.compile(r"([?&](?:" + "|".join(SECRET_QUERY) + r")=)[^&#\s]*", re.IGNORECASE)
_PATH = re.compile(r"(/projects/)[^/?\s]+(/settings)")


def redact(text: str) -> str:
    return _PATH.sub(r"\1***\2", _QUERY.sub(r"\1***", text))


class RedactWriteKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.access: args = (client, method, path with query, http version, status).
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install(logger_name: str = "uvicorn.access") -> None:
    """Add the filter once (the app factory may run several times in one process)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactWriteKeys) for f in logger.filters):
        logger.addFilter(RedactWriteKeys())
