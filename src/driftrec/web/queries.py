"""Read-only aggregates the dashboard draws, over the store's tables (SQLite or PostgreSQL).

Nothing here writes, and nothing returns a user key: counts and time buckets only.
"""

from __future__ import annotations

from sqlalchemy import func, select

from driftrec.store import Store
from driftrec.store import tables as t


def count_users(store: Store) -> int:
    """Users with a stored interest state."""
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.user_state)).scalar_one())


def latest_event_ts(store: Store, item_id: str | None = None) -> int | None:
    """Timestamp of the most recent event (of one item, when given).

    Over all events it is taken per user, from the end of each user's ``(user_key, ts)``
    index range (every user with events has a state row): one index probe per user
    instead of a scan of every event.
    """
    e = t.events.c
    if item_id is not None:
        stmt = select(func.max(e.ts)).where(e.item_id == item_id)
    else:
        per_user = (select(func.max(e.ts)).where(e.user_key == t.user_state.c.user_key)
                    .scalar_subquery())
        stmt = select(func.max(per_user)).select_from(t.user_state)
    with store.engine.connect() as conn:
        value = conn.execute(stmt).scalar_one_or_none()
    return None if value is None else int(value)


def event_counts(store: Store, bucket_s: int, *, since_ts: int | None = None,
                 item_id: str | None = None) -> list[tuple[int, str, int]]:
    """Events per time bucket and event type, ``(bucket start, event_type, count)`` in time
    order; only events at or after ``since_ts`` and only on ``item_id`` when given."""
    e = t.events.c
    bucket = (e.ts // bucket_s).label("bucket")
    stmt = select(bucket, e.event_type, func.count()).group_by(bucket, e.event_type)
    if since_ts is not None:
        stmt = stmt.where(e.ts >= since_ts)
    if item_id is not None:
        stmt = stmt.where(e.item_id == item_id)
    with store.engine.connect() as conn:
        rows = conn.execute(stmt.order_by(bucket)).all()
    return [(int(r[0]) * bucket_s, str(r[1]), int(r[2])) for r in rows]


def item_event_summary(store: Store, item_id: str) -> tuple[int, int]:
    """``(events, distinct users)`` on one item."""
    e = t.events.c
    with store.engine.connect() as conn:
        row = conn.execute(select(func.count(), func.count(func.distinct(e.user_key)))
                           .where(e.item_id == item_id)).one()
    return int(row[0]), int(row[1])


def user_drifts(store: Store) -> dict[str, float]:
    """Each user's current drift, by pseudonymous key, read by SQL alone: the ``drift``
    column, or for a state stored before it existed the JSON state's own ``drift``."""
    s = t.user_state.c
    drift = func.coalesce(s.drift, s.state["drift"].as_float())
    with store.engine.connect() as conn:
        rows = conn.execute(select(s.user_key, drift).where(drift.is_not(None))).all()
    return {r[0]: float(r[1]) for r in rows}
