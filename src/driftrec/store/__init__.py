"""Persistence behind one interface: SQLite (embedded default) or PostgreSQL, by URL."""

from driftrec.store.records import ItemRecord, NewEvent, StoredEvent
from driftrec.store.store import Store

__all__ = ["ItemRecord", "NewEvent", "Store", "StoredEvent"]
