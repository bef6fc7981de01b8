"""Storage of the feedback loop: impressions, attributed events and fusion weight versions.

Everything here runs inside a transaction the caller opened with :meth:`Store._write`
(labelling reads and writes must be one transaction so that two processes never label the
same impression or update the weights from the same base twice).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, delete, func, select, update

from driftrec.store import tables as t
from driftrec.store.engine import json_dumps
from driftrec.store.records import StoredEvent
from driftrec.store.writelock import mark_changed

if TYPE_CHECKING:
    from driftrec.store.store import Store

#: Meta key of the active fusion weights version.
ACTIVE_WEIGHTS = "fusion_weights"


@dataclass
class Impression:
    recommendation_id: str
    user_key: str
    created_at: float
    model_version: str
    weights_version: int
    #: ``(item_id, position, standardised features or None)`` in list order.
    items: list[tuple[str, int, np.ndarray | None]]


@dataclass
class WeightsRow:
    version: int
    model_version: str
    coef: list[float]
    intercept: float
    updates: int
    reason: str
    stats: dict[str, Any]
    created_at: float


def new_recommendation_id() -> str:
    """A new impression's id: 32 hex digits, the time in microseconds (14) then 72 random
    bits. Ids in time order make each new row an append to the primary-key index instead
    of an insert at a random page, which costs SQLite about half as much per served list
    (docs/feedback.md, Impressions)."""
    return f"{time.time_ns() // 1000:014x}{secrets.token_hex(9)}"


def impression_row(imp: Impression) -> dict[str, Any]:
    """The ``impressions`` row of ``imp``: item ids and positions as JSON, features as one
    float32 matrix of raw bytes (NaN rows for items without; see the table)."""
    feats = [x for _, _, x in imp.items if x is not None]
    blob = None
    if feats:
        matrix = np.full((len(imp.items), len(feats[0])), np.nan, dtype="<f4")
        for row, (_, _, x) in enumerate(imp.items):
            if x is not None:
                matrix[row] = x
        blob = matrix.tobytes()
    return {"recommendation_id": imp.recommendation_id, "user_key": imp.user_key,
            "created_at": imp.created_at, "model_version": imp.model_version,
            "weights_version": imp.weights_version,
            "items": [[item, pos] for item, pos, _ in imp.items], "features": blob,
            "labelled": False}


#: The ``impressions`` columns :func:`impression_row` fills, in statement order (``items``
#: is JSON; sqlite3 binds the ``labelled`` bool as 0 or 1).
_COLUMNS = ("recommendation_id", "user_key", "created_at", "model_version", "weights_version",
            "items", "features", "labelled")
#: Impressions per SQLite INSERT statement (8 parameters each; SQLite allows 32,766).
ROWS_PER_STATEMENT = 500


def insert_impressions(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write :func:`impression_row` rows in the caller's transaction.

    On SQLite, as one multi-row INSERT per :data:`ROWS_PER_STATEMENT` rows, not an
    executemany: Python's sqlite3 releases the interpreter lock around every row of an
    executemany, and under load each release hands the lock to a request thread and waits
    for it back. One statement per commit about halved what recording a served list costs
    the requests of the same process in a probe (docs/feedback.md, What recording costs).
    PostgreSQL gets the executemany, which its driver batches itself.
    """
    if conn.dialect.name != "sqlite":
        conn.execute(t.impressions.insert(), list(rows))
        return
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        part = rows[start:start + ROWS_PER_STATEMENT]
        params = tuple(json_dumps(r[c]) if c == "items" else r[c]
                       for r in part for c in _COLUMNS)
        conn.exec_driver_sql(_sqlite_insert(len(part)), params)


@lru_cache(maxsize=128)
def _sqlite_insert(n_rows: int) -> str:
    row = "(" + ",".join("?" * len(_COLUMNS)) + ")"
    return (f"INSERT INTO {t.impressions.name} ({','.join(_COLUMNS)}) VALUES "
            + ",".join([row] * n_rows))


def _shown_items(items: list[list[Any]], blob: bytes | None
                 ) -> list[tuple[str, int, np.ndarray | None]]:
    """:attr:`Impression.items` from a stored row (either form, see the table)."""
    if blob is None:  # written before schema version 9, or no item had features
        return [(str(i[0]), int(i[1]), None if len(i) < 3 or i[2] is None
                 else np.asarray(i[2], dtype=np.float32)) for i in items]
    matrix = np.frombuffer(blob, dtype="<f4").reshape(len(items), -1)
    return [(str(i[0]), int(i[1]), None if np.isnan(x).all() else x)
            for i, x in zip(items, matrix, strict=True)]


def due_impressions(conn: Connection, closed_before: float, limit: int) -> list[Impression]:
    """Unlabelled impressions whose attribution window has closed, oldest first, locked
    (other processes skip them)."""
    stmt = (select(t.impressions).where(~t.impressions.c.labelled
                                        & (t.impressions.c.created_at < closed_before))
            .order_by(t.impressions.c.created_at).limit(limit))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [Impression(r.recommendation_id, r.user_key, float(r.created_at), r.model_version,
                       int(r.weights_version), _shown_items(r._mapping["items"], r.features))
            for r in conn.execute(stmt)]


def attributed_events(conn: Connection, imp: Impression, window_s: float
                      ) -> list[StoredEvent]:
    """Events attributed to ``imp`` (see :mod:`driftrec.feedback.labels` for the rule)."""
    e = t.events.c
    shown = {i[0] for i in imp.items}
    start, end = math.floor(imp.created_at), imp.created_at + window_s
    rows = conn.execute(
        select(e.item_id, e.event_type, e.value, e.ts, e.text, e.id, e.received_at,
               e.recommendation_id)
        .where((e.user_key == imp.user_key)
               & ((e.recommendation_id == imp.recommendation_id)
                  | ((e.recommendation_id.is_(None)) & (e.received_at >= start)
                     & (e.received_at <= end))))).all()
    rows = [r for r in rows if r.item_id in shown]
    implicit = [r for r in rows if r.recommendation_id is None]
    later: dict[str, list[float]] = {}
    if implicit:
        # an implicit event belongs to the latest impression that showed its item before it
        for other in conn.execute(select(t.impressions.c.created_at, t.impressions.c["items"])
                                  .where((t.impressions.c.user_key == imp.user_key)
                                         & (t.impressions.c.created_at > imp.created_at)
                                         & (t.impressions.c.created_at <= end))):
            for item in other._mapping["items"]:
                later.setdefault(item[0], []).append(float(other.created_at))
    out = []
    for r in rows:
        # receipt times are whole seconds: a later list in the same second came first
        if r.recommendation_id is None and any(
                math.floor(ts) <= r.received_at for ts in later.get(r.item_id, [])):
            continue
        out.append(StoredEvent(r.item_id, r.event_type, r.value, r.ts, r.text, r.id))
    return out


def mark_labelled(conn: Connection, ids: list[str]) -> None:
    if ids:
        conn.execute(update(t.impressions).where(t.impressions.c.recommendation_id.in_(ids))
                     .values(labelled=True))


def add_item_feedback(conn: Connection, counts: dict[str, tuple[int, int]]) -> None:
    """Add ``item_id -> (shown, engaged)`` to the stored per-item counts."""
    if not counts:
        return
    known = {r.item_id for r in conn.execute(
        select(t.item_feedback.c.item_id).where(t.item_feedback.c.item_id.in_(list(counts))))}
    for item_id, (shown, engaged) in counts.items():
        if item_id in known:
            conn.execute(update(t.item_feedback).where(t.item_feedback.c.item_id == item_id)
                         .values(shown=t.item_feedback.c.shown + shown,
                                 engaged=t.item_feedback.c.engaged + engaged))
        else:
            conn.execute(t.item_feedback.insert().values(item_id=item_id, shown=shown,
                                                         engaged=engaged))


def prune_impressions(store: Store, older_than: float, max_rows: int, chunk: int = 500
                      ) -> int:
    """Delete impressions past retention: those created before ``older_than``, and the
    oldest beyond the newest ``max_rows``; returns how many.

    The row cap is found by a read (a walk down the time index, which takes no write lock);
    the deletes go oldest first through the same index, ``chunk`` rows per write
    transaction, so that event writers wait for a chunk at most, never for a pass over
    the whole table.
    """
    imp = t.impressions.c
    with store.engine.connect() as conn:
        cutoff = conn.execute(select(imp.created_at).order_by(imp.created_at.desc())
                              .offset(max_rows).limit(1)).scalar_one_or_none()
    past = imp.created_at < older_than
    if cutoff is not None:
        past = past | (imp.created_at <= cutoff)
    oldest = select(imp.recommendation_id).where(past).order_by(imp.created_at).limit(chunk)
    deleted = 0
    while True:
        with store.transaction(changes=False) as conn, conn.begin():
            n = int(conn.execute(delete(t.impressions)
                                 .where(imp.recommendation_id.in_(oldest))).rowcount)
        deleted += n
        if n < chunk:
            return deleted


def active_weights(conn: Connection, model_version: str, *, lock: bool = False
                   ) -> WeightsRow | None:
    """The active online weights if they belong to ``model_version`` (None: offline W)."""
    stmt = select(t.meta.c.value).where(t.meta.c.key == ACTIVE_WEIGHTS)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    value = conn.execute(stmt).scalar_one_or_none()
    if value is None:
        return None
    row = get_weights(conn, int(value))
    return row if row is not None and row.model_version == model_version else None


def get_weights(conn: Connection, version: int) -> WeightsRow | None:
    r = conn.execute(select(t.fusion_weights).where(t.fusion_weights.c.version == version)
                     ).one_or_none()
    if r is None:
        return None
    return WeightsRow(int(r.version), r.model_version, list(r.coef), float(r.intercept),
                      int(r.updates), r.reason, dict(r.stats), float(r.created_at))


def recent_weights(conn: Connection, limit: int = 20) -> list[WeightsRow]:
    rows = conn.execute(select(t.fusion_weights.c.version)
                        .order_by(t.fusion_weights.c.version.desc()).limit(limit)).scalars()
    return [w for w in (get_weights(conn, int(v)) for v in rows) if w is not None]


def write_weights(conn: Connection, row: WeightsRow) -> int:
    """Store a new weights version and make it the active one; returns its number."""
    mark_changed(conn)  # the active weights are a shared value every process serves
    latest = conn.execute(select(func.max(t.fusion_weights.c.version))).scalar_one()
    version = int(latest or 0) + 1
    conn.execute(t.fusion_weights.insert().values(
        version=version, model_version=row.model_version, coef=row.coef,
        intercept=row.intercept, updates=row.updates, reason=row.reason, stats=row.stats,
        created_at=row.created_at))
    exists = conn.execute(select(t.meta.c.key).where(t.meta.c.key == ACTIVE_WEIGHTS)
                          ).one_or_none()
    if exists is None:
        conn.execute(t.meta.insert().values(key=ACTIVE_WEIGHTS, value=str(version)))
    else:
        conn.execute(update(t.meta).where(t.meta.c.key == ACTIVE_WEIGHTS)
                     .values(value=str(version)))
    return version
