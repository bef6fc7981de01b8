"""Keyed hashing of user ids (and client event ids) so that raw ids never reach storage.

HMAC-SHA256 with a secret from the settings: without the secret the stored keys cannot be
linked back to a person by hashing candidate ids. Every process of one service must share
the secret, or they would not find each other's users.
"""

from __future__ import annotations

import hashlib
import hmac


class Pseudonymiser:
    """Maps external ids to stable, non-reversible keys."""

    def __init__(self, secret: str | bytes) -> None:
        if not secret:
            raise ValueError("ID_SECRET must not be empty")
        self._secret = secret.encode() if isinstance(secret, str) else secret

    def _digest(self, domain: str, value: str) -> str:
        msg = f"{domain}\x00{value}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def user_key(self, user_id: str) -> str:
        return self._digest("user", user_id)

    def event_key(self, user_key: str, event_id: str) -> str:
        """The idempotency key of a client ``event_id``, scoped to one user: two users (or
        devices) numbering their events alike never collide."""
        return self._digest("user-event", f"{user_key}\x00{event_id}")

    def legacy_event_key(self, event_id: str) -> str:
        """The unscoped key of schema version 1, still honoured for rows written then."""
        return self._digest("event", event_id)
