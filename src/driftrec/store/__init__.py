"""Persistence behind one interface: SQLite (embedded default) or PostgreSQL, by URL."""

from driftrec.store.records import EventIdConflict, ItemRecord, NewEvent, StoredEvent
from driftrec.store.store import Store

__all__ = ["EventIdConflict", "ItemRecord", "NewEvent", "Store", "StoredEvent"]
