"""Interest states for many users at once: :func:`update` applied in time order, vectorised.

Because the decayed sums are order-independent (see :mod:`driftrec.interest.state`), the
long- and short-term sums of a whole log are one sparse matrix product,
``S = W @ X`` with ``W[u, j] = w_j * 2^(-(clock_u - t_j) / h)``, which gives the same
numbers as calling ``update`` event by event (up to float rounding). Exact duplicate
events (same user, item, time and type) count once, as redeliveries do in ``update``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from driftrec.data.dataset import Histories
from driftrec.data.schema import EVENT_TYPE, ITEM_ID, TEXT, TIMESTAMP, USER_ID, VALUE
from driftrec.interest.clusters import recluster
from driftrec.interest.config import InterestConfig
from driftrec.interest.state import InterestState

log = logging.getLogger(__name__)


@dataclass
class InterestMatrix:
    """Long/short decayed sums and masses for a batch of users (rows)."""

    long_sum: np.ndarray
    long_mass: np.ndarray
    short_sum: np.ndarray
    short_mass: np.ndarray
    clock: np.ndarray
    n_events: np.ndarray

    @property
    def long_term(self) -> np.ndarray:
        return _unit_rows(self.long_sum)

    @property
    def short_term(self) -> np.ndarray:
        return _unit_rows(self.short_sum)

    @property
    def drift(self) -> np.ndarray:
        a, b = self.short_term, self.long_term
        both = (np.abs(a).sum(1) > 0) & (np.abs(b).sum(1) > 0)
        return np.where(both, 1.0 - np.clip((a * b).sum(1), -1, 1), 0.0)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0).astype(np.float32)


def decayed_sums(
    rows: np.ndarray, n_rows: int, sources: np.ndarray, vectors: np.ndarray,
    timestamps: np.ndarray, weights: np.ndarray, config: InterestConfig,
    clock: np.ndarray | None = None,
) -> InterestMatrix:
    """Sums of ``weights * decay * vectors[sources]`` per row, at each row's clock."""
    rows = np.asarray(rows, dtype=np.int64)
    ts = np.asarray(timestamps, dtype=np.float64)
    if clock is None:
        clock = np.full(n_rows, -np.inf)
        np.maximum.at(clock, rows, ts)
        clock[~np.isfinite(clock)] = 0.0
    age = np.maximum(clock[rows] - ts, 0.0)
    # Only the vectors the events name take part: a few rows of a large catalogue are not
    # converted to float64 as a whole (the same sums, term for term, in the same order).
    used, cols = np.unique(np.asarray(sources, dtype=np.int64), return_inverse=True)
    picked = np.asarray(vectors[used], dtype=np.float64)
    # One sparse matrix, built in CSR form directly (scipy's conversion from row and column
    # lists cost more than the product for one user): rows [0, n) hold the long-term
    # weights, rows [n, 2n) the short-term ones; each row's events in their given order.
    order = np.argsort(rows, kind="stable")
    counts = np.bincount(rows, minlength=n_rows)
    long_w, short_w = weights * config.long_decay(age), weights * config.short_decay(age)
    mat = sp.csr_matrix(
        (np.concatenate([long_w[order], short_w[order]]), np.tile(cols.ravel()[order], 2),
         np.concatenate([[0], np.cumsum(np.concatenate([counts, counts]))])),
        shape=(2 * n_rows, len(used)))
    sums = np.asarray(mat @ picked, dtype=np.float64)
    return InterestMatrix(
        clock=clock, n_events=counts,
        long_sum=sums[:n_rows], long_mass=np.bincount(rows, np.abs(long_w), minlength=n_rows),
        short_sum=sums[n_rows:],
        short_mass=np.bincount(rows, np.abs(short_w), minlength=n_rows))


def first_occurrences(rows: np.ndarray, items: np.ndarray, ts: np.ndarray,
                      types: np.ndarray) -> np.ndarray:
    """Mask of the first of each repeated (row, item, time, type) event: a redelivered
    event counts once, as in the live state."""
    _, type_code = np.unique(np.asarray(types, dtype=str), return_inverse=True)
    columns = (type_code.ravel(), np.asarray(ts), np.asarray(items), np.asarray(rows))
    order = np.lexsort(columns)  # stable: equal keys stay in their original order
    new_key = np.ones(len(order), dtype=bool)
    for col in columns:
        c = col[order]
        new_key[1:] &= c[1:] == c[:-1]
    new_key[1:] = ~new_key[1:]
    keep = np.zeros(len(rows), dtype=bool)
    keep[order[new_key]] = True
    return keep


def history_interest(histories: Histories, item_vectors: np.ndarray,
                     config: InterestConfig | None = None) -> InterestMatrix:
    """Interest sums of every history row, each at its own latest event time."""
    cfg = config or InterestConfig()
    lengths = np.fromiter((len(x) for x in histories.items), np.int64, len(histories))
    if lengths.sum() == 0:
        z = np.zeros((len(histories), item_vectors.shape[1]))
        zn = np.zeros(len(histories))
        return InterestMatrix(z, zn, z.copy(), zn.copy(), zn.copy(), lengths)
    rows = np.repeat(np.arange(len(histories)), lengths)
    items = np.concatenate(histories.items)
    ts = np.concatenate(histories.timestamps).astype(np.float64)
    types = np.concatenate(histories.event_types)
    values = np.concatenate(histories.values)
    keep = first_occurrences(rows, items, ts, types)
    weights = cfg.event_weights(types[keep], values[keep])
    return decayed_sums(rows[keep], len(histories), items[keep], item_vectors, ts[keep],
                        weights, cfg)


def build_states(
    events: pd.DataFrame,
    item_vectors: np.ndarray,
    item_ids: Sequence[str],
    *,
    config: InterestConfig | None = None,
    text_vectors: Callable[[list[str]], np.ndarray] | None = None,
    clusters: bool = True,
    labeler: Callable[[Sequence[str]], str] | None = None,
    seed: int = 0,
) -> dict[str, InterestState]:
    """States of every user in an event log (schema columns), as if each event was applied.

    ``text_vectors`` encodes event texts (search queries, reviews); without it, text is
    ignored. Events naming items outside ``item_ids`` with no text are skipped with a log.
    """
    cfg = config or InterestConfig()
    dim = item_vectors.shape[1]
    ev = events.drop_duplicates([USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE]).copy()
    ev = ev.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    pos = {str(i): j for j, i in enumerate(item_ids)}
    item_col = ev[ITEM_ID].astype(object).where(ev[ITEM_ID].notna(), None)
    src = np.array([pos.get(str(i), -1) if i is not None else -1 for i in item_col])
    texts = ev[TEXT] if TEXT in ev.columns else pd.Series([None] * len(ev))
    has_text = texts.notna().to_numpy() & (texts.astype(str).str.len() > 0).to_numpy()
    if text_vectors is None:
        has_text[:] = False
    unknown = (src < 0) & ~has_text
    if unknown.any():
        log.warning("skipping %d events whose item has no vector and that carry no text",
                    int(unknown.sum()))
    users, rows = np.unique(ev[USER_ID].astype(str).to_numpy(), return_inverse=True)
    ts = ev[TIMESTAMP].to_numpy(dtype=np.float64)
    types = ev[EVENT_TYPE].astype(str).to_numpy()
    values = (ev[VALUE].to_numpy(dtype=np.float64) if VALUE in ev.columns
              else np.full(len(ev), np.nan))  # missing: the type's weight
    table = [np.asarray(item_vectors, dtype=np.float64)]
    r_all, s_all, t_all, w_all = [], [], [], []
    has_item = src >= 0
    w_item = cfg.event_weights(types, values)
    r_all.append(rows[has_item])
    s_all.append(src[has_item])
    t_all.append(ts[has_item])
    w_all.append(w_item[has_item])
    if has_text.any():
        tv = np.asarray(text_vectors(texts[has_text].astype(str).tolist()), dtype=np.float64)
        table.append(tv)
        w_text = cfg.text_weight * np.array([cfg.type_weight(t) for t in types[has_text]])
        r_all.append(rows[has_text])
        s_all.append(len(item_vectors) + np.arange(has_text.sum()))
        t_all.append(ts[has_text])
        w_all.append(w_text)
    vec_table = np.vstack(table)
    clock = np.full(len(users), -np.inf)
    counted = has_item | has_text
    np.maximum.at(clock, rows[counted], ts[counted])
    clock[~np.isfinite(clock)] = 0.0
    m = decayed_sums(np.concatenate(r_all), len(users), np.concatenate(s_all), vec_table,
                     np.concatenate(t_all), np.concatenate(w_all), cfg, clock=clock)
    n_events = np.bincount(rows[counted], minlength=len(users))
    states: dict[str, InterestState] = {}
    order = np.argsort(rows[counted], kind="stable")
    idx_counted = np.flatnonzero(counted)[order]
    bounds = np.searchsorted(rows[counted][order], np.arange(len(users) + 1))
    item_list = item_col.to_numpy(dtype=object)
    text_list = texts.to_numpy(dtype=object)
    for u, uid in enumerate(users):
        mine = idx_counted[bounds[u]:bounds[u + 1]][-cfg.max_recent:]
        recent = [[None if item_list[j] is None else str(item_list[j]), float(ts[j]),
                   str(types[j]), None if item_list[j] is not None else text_list[j],
                   float(w_item[j]) if src[j] >= 0 else 0.0]
                  for j in mine]
        states[str(uid)] = InterestState(
            user_id=str(uid), dim=dim, clock=float(clock[u]) if n_events[u] else None,
            n_events=int(n_events[u]),
            long_sum=m.long_sum[u].copy(), long_mass=float(m.long_mass[u]),
            short_sum=m.short_sum[u].copy(), short_mass=float(m.short_mass[u]), recent=recent,
        )
    if clusters:
        def lookup(i: str) -> np.ndarray | None:
            j = pos.get(i)
            return None if j is None else item_vectors[j]
        for st in states.values():
            recluster(st, lookup, max_k=cfg.max_clusters, window=cfg.cluster_window,
                      labeler=labeler, seed=seed)
    return states
