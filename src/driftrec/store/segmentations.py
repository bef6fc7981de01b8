"""Storage of the shared user segmentation: versions and the history of segment sizes.

Every service process serves the newest ``ready`` version. To make the next one a process
first *claims* it: a conditional insert of ``version = newest + 1`` with status
``building``, in one transaction that also checks that the newest version is stale and
that no other claim younger than the build timeout is open. Two processes racing for the
same version collide on the primary key and only one builds; a claim whose process died
is passed over once it is older than the timeout.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from driftrec.store import tables as t

READY, BUILDING = "ready", "building"


@dataclass
class SegmentationRow:
    version: int
    kind: str
    created_at: float
    k: int
    arrays: dict[str, np.ndarray]
    profiles: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def pack(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def unpack(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        return {name: z[name] for name in z.files}


def latest_version(store) -> int | None:
    """The newest ready version number (one indexed read)."""
    with store.engine.connect() as conn:
        return conn.execute(select(func.max(t.segmentations.c.version))
                            .where(t.segmentations.c.status == READY)).scalar()


def load(store, version: int | None = None) -> SegmentationRow | None:
    """A ready version (the newest when ``version`` is None)."""
    s = t.segmentations
    stmt = select(s).where(s.c.status == READY)
    stmt = stmt.where(s.c.version == version) if version is not None else \
        stmt.order_by(s.c.version.desc()).limit(1)
    with store.engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None or row.centroids is None:
        return None
    return SegmentationRow(int(row.version), row.kind, float(row.created_at), int(row.k),
                           unpack(row.centroids), list(row.profiles or []),
                           dict(row.stats or {}))


def claim(store, *, stale_after_s: float, build_timeout_s: float,
          now: float | None = None) -> int | None:
    """The next version number if this process wins the right to build it, else None."""
    now = time.time() if now is None else now
    s = t.segmentations
    try:
        with store.transaction(changes=False) as conn, conn.begin():
            newest = conn.execute(select(func.max(s.c.version))).scalar() or 0
            ready = conn.execute(select(func.max(s.c.created_at))
                                 .where(s.c.status == READY)).scalar()
            if ready is not None and now - float(ready) < stale_after_s:
                return None
            open_claim = conn.execute(
                select(func.count()).select_from(s)
                .where((s.c.status == BUILDING) & (s.c.created_at > now - build_timeout_s))
            ).scalar_one()
            if open_claim:
                return None
            conn.execute(s.insert().values(version=newest + 1, status=BUILDING,
                                           kind="", created_at=now, k=0, profiles=[],
                                           stats={}))
            return newest + 1
    except IntegrityError:
        return None  # another process inserted this version first


def publish(store, version: int, *, kind: str, k: int, arrays: dict[str, np.ndarray],
            profiles: list[dict[str, Any]], stats: dict[str, Any],
            history: list[dict[str, Any]]) -> None:
    """Fill in a claimed version and record its segments' sizes; it is served from now."""
    now = time.time()
    with store.transaction(changes=False) as conn, conn.begin():
        conn.execute(update(t.segmentations).where(t.segmentations.c.version == version)
                     .values(status=READY, kind=kind, created_at=now, k=k,
                             centroids=pack(arrays), profiles=profiles, stats=stats))
        if history:
            conn.execute(t.segment_history.insert(),
                         [{"version": version, "created_at": now, **h} for h in history])


def abandon(store, version: int) -> None:
    """Drop a claim whose build failed (others may claim again at once)."""
    with store.transaction(changes=False) as conn, conn.begin():
        conn.execute(delete(t.segmentations).where(
            (t.segmentations.c.version == version) & (t.segmentations.c.status == BUILDING)))


def history(store, versions: int = 50) -> list[dict[str, Any]]:
    """Segment sizes and drift of the last ``versions`` versions, oldest first."""
    h = t.segment_history
    with store.engine.connect() as conn:
        first = conn.execute(select(h.c.version).distinct().order_by(h.c.version.desc())
                             .limit(versions)).scalars().all()
        if not first:
            return []
        rows = conn.execute(select(h).where(h.c.version >= min(first))
                            .order_by(h.c.version, h.c.segment_id)).mappings().all()
    return [dict(r) for r in rows]
