"""Signed login sessions and CSRF tokens, from one secret key.

A login session is a signed, timestamped value in a cookie: the user's id, a
random session id, and the user's session epoch when it was made. The epoch
is the server-side half: a counter on the user row that logout, disabling,
a password change and "sign out everywhere" bump, so every cookie made before
stops at once (checked on every request and by open live streams). A cookie
otherwise lasts SESSION_MAX_AGE_S.

A CSRF token is an HMAC of what the browser holds: the session id when signed
in, else a random nonce in its own cookie. A page from another site can make
the browser send the cookies, but cannot read them or the token, and cannot
compute the HMAC without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer


@dataclass(frozen=True)
class SessionData:
    user_id: int
    session_id: str
    epoch: int  # the user's session_epoch when this cookie was made


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def is_nonce(value: str) -> bool:
    return 20 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


class Signer:
    def __init__(self, secret_key: str, session_max_age_s: int) -> None:
        # Empty key: a random one per process; logins then end on restart (documented).
        self._key = (secret_key or secrets.token_urlsafe(32)).encode()
        self.session_max_age_s = session_max_age_s
        self._sessions = URLSafeTimedSerializer(self._key, salt="trackmaster.session")

    def dump_session(self, user_id: int, epoch: int) -> str:
        return self._sessions.dumps({"u": user_id, "s": new_nonce(), "e": epoch})

    def load_session(self, cookie: str) -> SessionData | None:
        """The session in a cookie, or None when it is forged, malformed or too old."""
        if len(cookie) > 512:
            return None
        try:
            raw = self._sessions.loads(cookie, max_age=self.session_max_age_s)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(raw, dict):
            return None
        user_id, session_id, epoch = raw.get("u"), raw.get("s"), raw.get("e")
        if not (isinstance(user_id, int) and isinstance(session_id, str)):
            return None
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            return None  # made before epochs existed: signed in again once
        return SessionData(user_id, session_id, epoch)

    def csrf_token(self, binding: str) -> str:
        """The token for a browser whose session id (or nonce) is `binding`."""
        return hmac.new(self._key, b"csrf:" + binding.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, binding: str, token: str) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(binding), token)
