"""Plain records that cross the store boundary (no SQLAlchemy types leak out)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NewEvent:
    """An event as received; ``user_id`` is raw here and is hashed before it is stored.

    ``value`` is ``None`` when the client sent none (a rating without a value then counts
    with its type's weight, not as one star).
    """

    user_id: str
    item_id: str
    event_type: str
    value: float | None
    timestamp: int
    text: str | None = None
    event_id: str | None = None
    #: False when the service filled in ``timestamp`` (time of receipt): a retry then
    #: carries another timestamp, so it must not count towards the payload's fingerprint.
    client_timestamp: bool = True
    #: The served list this event answers (explicit attribution for the feedback loop).
    recommendation_id: str | None = None

    def fingerprint(self) -> str:
        """Digest of what the client sent for this event, to tell a retry (same payload)
        from the reuse of an ``event_id`` for a different event."""
        payload = [self.item_id, self.event_type, self.value,
                   self.timestamp if self.client_timestamp else None, self.text]
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


class EventIdConflict(ValueError):
    """An ``event_id`` this user already used for a different event."""

    def __init__(self, index: int, event_id: str) -> None:
        super().__init__(f"event_id {event_id!r} was already used by this user for a "
                         f"different event; use a new event_id for a new event")
        self.index = index
        self.event_id = event_id


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored for one (pseudonymous) user (slotted: the user contexts a service
    process keeps in memory hold hundreds of thousands of them)."""

    item_id: str
    event_type: str
    value: float | None
    timestamp: int
    text: str | None = None
    seq: int = 0


@dataclass
class ItemRecord:
    """A catalogue item; ``embedding`` is the float32 bytes of its text vector and
    ``encoder`` the embedding key it was made under: encoder name and item text rule
    (:func:`driftrec.recommend.encoding.embedding_key`)."""

    item_id: str
    title: str = ""
    text: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    hidden: bool = False
    embedding: bytes | None = None
    encoder: str | None = None
    seq: int = 0
    updated_at: int = 0
