"""Plain records that cross the store boundary (no SQLAlchemy types leak out)."""

from __future__ import annotations

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


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored for one (pseudonymous) user."""

    item_id: str
    event_type: str
    value: float | None
    timestamp: int
    text: str | None = None
    seq: int = 0


@dataclass
class ItemRecord:
    """A catalogue item; ``embedding`` is the float32 bytes of its text vector."""

    item_id: str
    title: str = ""
    text: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    hidden: bool = False
    embedding: bytes | None = None
    encoder: str | None = None
    seq: int = 0
    updated_at: int = 0
