"""Tell people when background work fails: a Slack incoming webhook and/or a generic webhook.

Notifying must never take down the work it reports on: failures to notify
are logged, not raised.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, slack_webhook_url: str = "", webhook_url: str = "", timeout_s: float = 5):
        self.slack_webhook_url = slack_webhook_url
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s

    @property
    def enabled(self) -> bool:
        return bool(self.slack_webhook_url or self.webhook_url)

    async def notify(self, title: str, text: str, details: dict[str, Any] | None = None) -> None:
        if not self.enabled:
            return
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            if self.slack_webhook_url:
                await self._post(
                    client, self.slack_webhook_url, {"text": f"*TrackMaster: {title}*\n{text}"}
                )
            if self.webhook_url:
                await self._post(
                    client,
                    self.webhook_url,
                    {
                        "source": "trackmaster",
                        "title": title,
                        "text": text,
                        "details": details or {},
                    },
                )

    async def _post(self, client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> None:
        try:
            response = await client.post(url, json=body)
            if response.status_code >= 300:
                log.warning("notify: %s answered %s", url, response.status_code)
        except httpx.HTTPError as exc:
            log.warning("notify: cannot reach %s: %s", url, exc)
