"""Dataset: events, items and users in the internal schema, with dense integer indices.

External ids stay strings everywhere a person sees them; models work on the dense indices
``0..n_users-1`` and ``0..n_items-1`` that the dataset assigns. The item catalogue is every
item in the items table (items with no events included) plus any item the events name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from driftrec.data.errors import DataError
from driftrec.data.schema import (
    DEFAULT_EVENT_TYPE,
    EVENT_COLUMNS,
    EVENT_TYPE,
    ITEM_ID,
    ITEM_IDX,
    TEXT,
    TIMESTAMP,
    USER_ID,
    USER_IDX,
    VALUE,
)

log = logging.getLogger(__name__)

UnknownItemPolicy = Literal["error", "warn", "add"]


def normalise_events(events: pd.DataFrame) -> pd.DataFrame:
    """Return ``events`` with exactly the schema columns and dtypes, keeping row order."""
    missing = [c for c in (USER_ID, ITEM_ID) if c not in events.columns]
    if missing:
        raise DataError(f"events are missing required column(s) {missing}", field=missing[0])
    out = pd.DataFrame(
        {
            USER_ID: events[USER_ID].astype(str).to_numpy(),
            ITEM_ID: events[ITEM_ID].astype(str).to_numpy(),
        }
    )
    if TIMESTAMP in events.columns:
        out[TIMESTAMP] = events[TIMESTAMP].to_numpy(dtype=np.int64)
    else:
        # No clock: the file order is the time order.
        out[TIMESTAMP] = np.arange(len(events), dtype=np.int64)
    out[EVENT_TYPE] = (
        events[EVENT_TYPE].astype(str).to_numpy() if EVENT_TYPE in events.columns
        else DEFAULT_EVENT_TYPE
    )
    # no value column: every value is missing (NaN), as for API events without "value"
    out[VALUE] = (
        events[VALUE].to_numpy(dtype=np.float32) if VALUE in events.columns
        else np.float32(np.nan)
    )
    out[TEXT] = events[TEXT].to_numpy(dtype=object) if TEXT in events.columns else None
    return out[list(EVENT_COLUMNS)].reset_index(drop=True)


@dataclass
class Dataset:
    """Events, items and users with dense indices; the unit every model is fitted on."""

    events: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    name: str = "dataset"
    _item_pos: dict[str, int] = field(default_factory=dict, repr=False)
    _user_pos: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def from_frames(
        cls,
        events: pd.DataFrame,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        *,
        name: str = "dataset",
        unknown_items: UnknownItemPolicy = "add",
        catalogue: Literal["all", "events"] = "all",
    ) -> Dataset:
        """Build a dataset, assigning dense indices in order of first appearance.

        ``unknown_items`` says what to do when events name items missing from a given
        items table: ``error`` stops, ``warn`` drops those events and logs a count, ``add``
        adds them to the catalogue with no text. ``catalogue="events"`` keeps only items
        with at least one event (the published MovieLens protocols count only rated items).
        """
        events = normalise_events(events)
        if items is None:
            items = pd.DataFrame({ITEM_ID: pd.unique(events[ITEM_ID])})
            unknown_items = "add"
        else:
            items = items.copy()
            items[ITEM_ID] = items[ITEM_ID].astype(str)
            items = items.drop_duplicates(ITEM_ID, keep="last").reset_index(drop=True)
            known = events[ITEM_ID].isin(set(items[ITEM_ID]))
            n_unknown = int((~known).sum())
            if n_unknown:
                sample = events.loc[~known, ITEM_ID].unique()[:5].tolist()
                if unknown_items == "error":
                    raise DataError(
                        f"{n_unknown} events name item ids missing from the items table "
                        f"(e.g. {sample}); pass unknown_items='warn' to drop them "
                        f"or 'add' to add them without text",
                        field=ITEM_ID,
                    )
                if unknown_items == "warn":
                    log.warning("dropped %d events naming unknown items, e.g. %s",
                                n_unknown, sample)
                    events = events.loc[known].reset_index(drop=True)
                else:
                    extra = pd.DataFrame({ITEM_ID: events.loc[~known, ITEM_ID].unique()})
                    items = pd.concat([items, extra], ignore_index=True)
        if catalogue == "events":
            items = items[items[ITEM_ID].isin(set(events[ITEM_ID]))].reset_index(drop=True)

        if users is None:
            users = pd.DataFrame({USER_ID: pd.unique(events[USER_ID])})
        else:
            users = users.copy()
            users[USER_ID] = users[USER_ID].astype(str)
            users = users.drop_duplicates(USER_ID, keep="last")
            missing = pd.DataFrame(
                {USER_ID: events.loc[~events[USER_ID].isin(set(users[USER_ID])), USER_ID].unique()}
            )
            users = pd.concat([users, missing], ignore_index=True)
        users = users.reset_index(drop=True)

        ds = cls(events=events, items=items, users=users, name=name)
        ds._reindex()
        return ds

    def _reindex(self) -> None:
        self._item_pos = {iid: i for i, iid in enumerate(self.items[ITEM_ID].tolist())}
        self._user_pos = {uid: i for i, uid in enumerate(self.users[USER_ID].tolist())}
        self.events[USER_IDX] = self.user_index(self.events[USER_ID])
        self.events[ITEM_IDX] = self.item_index(self.events[ITEM_ID])

    # -- sizes and id mapping -------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def item_ids(self) -> np.ndarray:
        return self.items[ITEM_ID].to_numpy(dtype=object)

    @property
    def user_ids(self) -> np.ndarray:
        return self.users[USER_ID].to_numpy(dtype=object)

    def item_index(self, ids, *, missing: int | None = None) -> np.ndarray:
        """Dense indices of external item ids; unknown ids raise unless ``missing`` is given."""
        return _lookup(self._item_pos, ids, missing, ITEM_ID)

    def user_index(self, ids, *, missing: int | None = None) -> np.ndarray:
        """Dense indices of external user ids; unknown ids raise unless ``missing`` is given."""
        return _lookup(self._user_pos, ids, missing, USER_ID)

    def with_events(self, events: pd.DataFrame) -> Dataset:
        """The same catalogue and users with another event table (e.g. a training split)."""
        ds = Dataset(events=events.reset_index(drop=True), items=self.items, users=self.users,
                     name=self.name)
        ds._item_pos, ds._user_pos = self._item_pos, self._user_pos
        return ds

    def interactions(self, *, binary: bool = True) -> sp.csr_matrix:
        """User x item matrix of this dataset's events (counts, or 1 where any event)."""
        return interaction_matrix(self.events, self.n_users, self.n_items, binary=binary)

    def describe(self) -> dict[str, object]:
        """Summary statistics a person wants before working with a dataset."""
        ev = self.events
        per_user = ev.groupby(USER_IDX).size()
        n_active_items = ev[ITEM_IDX].nunique()
        stats: dict[str, object] = {
            "name": self.name,
            "users": int(ev[USER_IDX].nunique()),
            "items": int(self.n_items),
            "items_with_events": int(n_active_items),
            "events": len(ev),
            "density": len(ev) / max(1, ev[USER_IDX].nunique() * max(1, n_active_items)),
            "event_types": {str(k): int(v) for k, v in ev[EVENT_TYPE].value_counts().items()},
        }
        if len(ev):
            stats["time_start"] = pd.to_datetime(int(ev[TIMESTAMP].min()), unit="s").isoformat()
            stats["time_end"] = pd.to_datetime(int(ev[TIMESTAMP].max()), unit="s").isoformat()
            q = per_user.quantile([0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
            stats["events_per_user"] = {f"p{int(k * 100)}": float(v) for k, v in q.items()}
        return stats


def _lookup(pos: dict[str, int], ids, missing: int | None, field_name: str) -> np.ndarray:
    ids = [str(x) for x in (ids.tolist() if hasattr(ids, "tolist") else ids)]
    if missing is None:
        try:
            return np.fromiter((pos[x] for x in ids), dtype=np.int64, count=len(ids))
        except KeyError as exc:
            raise DataError(f"unknown id {exc.args[0]!r}", field=field_name) from None
    return np.fromiter((pos.get(x, missing) for x in ids), dtype=np.int64, count=len(ids))


def interaction_matrix(
    events: pd.DataFrame, n_users: int, n_items: int, *, binary: bool = True
) -> sp.csr_matrix:
    """Sparse user x item matrix from an indexed event frame."""
    rows = events[USER_IDX].to_numpy()
    cols = events[ITEM_IDX].to_numpy()
    data = np.ones(len(rows), dtype=np.float32)
    mat = sp.csr_matrix((data, (rows, cols)), shape=(n_users, n_items), dtype=np.float32)
    mat.sum_duplicates()
    if binary:
        mat.data[:] = 1.0
    return mat


@dataclass
class Histories:
    """Time-ordered item histories for a batch of users: the input every model scores from.

    Row ``r`` belongs to user index ``users[r]`` (``-1`` for a user the model never saw).
    Sequences are sorted by timestamp with a stable sort, so events with equal timestamps
    keep their source-file order.
    """

    users: np.ndarray
    items: list[np.ndarray]
    timestamps: list[np.ndarray]
    values: list[np.ndarray]
    event_types: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.users)

    @classmethod
    def from_events(cls, events: pd.DataFrame, users: np.ndarray | None = None) -> Histories:
        """Group an indexed event frame by user; ``users`` fixes which rows and their order."""
        u = events[USER_IDX].to_numpy()
        ts = events[TIMESTAMP].to_numpy()
        # lexsort is stable: ties on (user, timestamp) keep their row (source) order.
        order = np.lexsort((ts, u))
        u_sorted = u[order]
        bounds = np.flatnonzero(np.diff(u_sorted)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(order)]])
        present = u_sorted[starts] if len(order) else np.array([], dtype=np.int64)
        slot = {int(x): (int(s), int(e)) for x, s, e in zip(present, starts, ends, strict=True)}
        if users is None:
            users = present.astype(np.int64)
        items_col = events[ITEM_IDX].to_numpy()[order]
        ts_col = ts[order]
        val_col = events[VALUE].to_numpy(dtype=np.float32)[order]
        type_col = events[EVENT_TYPE].to_numpy(dtype=object)[order]
        empty_i = np.array([], dtype=np.int64)
        rows_i, rows_t, rows_v, rows_e = [], [], [], []
        for user in users:
            s, e = slot.get(int(user), (0, 0))
            rows_i.append(items_col[s:e] if e > s else empty_i)
            rows_t.append(ts_col[s:e])
            rows_v.append(val_col[s:e])
            rows_e.append(type_col[s:e])
        return cls(np.asarray(users, dtype=np.int64), rows_i, rows_t, rows_v, rows_e)

    @classmethod
    def from_item_lists(cls, item_lists: list[list[int]] | list[np.ndarray]) -> Histories:
        """Histories from bare item-index sequences (timestamps are positions)."""
        items = [np.asarray(x, dtype=np.int64) for x in item_lists]
        return cls(
            users=np.full(len(items), -1, dtype=np.int64),
            items=items,
            timestamps=[np.arange(len(x), dtype=np.int64) for x in items],
            values=[np.ones(len(x), dtype=np.float32) for x in items],
            event_types=[np.full(len(x), DEFAULT_EVENT_TYPE, dtype=object) for x in items],
        )

    def subset(self, rows: np.ndarray | slice) -> Histories:
        idx = range(len(self))[rows] if isinstance(rows, slice) else rows
        return Histories(
            users=self.users[idx],
            items=[self.items[i] for i in idx],
            timestamps=[self.timestamps[i] for i in idx],
            values=[self.values[i] for i in idx],
            event_types=[self.event_types[i] for i in idx],
        )

    def to_csr(self, n_items: int) -> sp.csr_matrix:
        """Binary user x item matrix of these histories (one row per history)."""
        lengths = np.fromiter((len(x) for x in self.items), dtype=np.int64, count=len(self))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        cols = np.concatenate(self.items) if len(self) else np.array([], dtype=np.int64)
        data = np.ones(len(cols), dtype=np.float32)
        mat = sp.csr_matrix((data, cols, indptr), shape=(len(self), n_items))
        mat.sum_duplicates()
        mat.data[:] = 1.0
        return mat
