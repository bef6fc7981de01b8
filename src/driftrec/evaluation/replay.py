"""Prequential replay: before each event, rank the catalogue from what was known then.

Two protocols are replays:

* **streaming**: models are trained on events before a global time cut (the 0.9 quantile);
  for a seeded sample of users with events on both sides, each of their first ``per_user``
  events after the cut is predicted from everything before it, with the history either
  *updated on every event* (what driftrec does live) or *frozen at the cut* (what a model
  retrained weekly sees).
* **new users** (``cold-user``): a seeded share of users is held out of training entirely,
  as a user who signs up after the model was trained; each of their first ``first`` events
  is predicted from the events before it (0, 1, 2, ... known events). A second, disjoint
  share is drawn for validation, so that anything tuned on new users is tuned on ``valid``.

Every step ranks the whole catalogue with the user's known items excluded (a target is
never excluded) and ties broken by item index (``metrics.top_k``); HR@K and NDCG@K are
means over steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rich.progress import track

from driftrec.data.dataset import Dataset, Histories
from driftrec.data.schema import EVENT_TYPE, ITEM_IDX, TIMESTAMP, USER_IDX, VALUE
from driftrec.evaluation import metrics as m
from driftrec.models.base import Recommender

#: History lengths reported one by one for new users (the issue's k = 0, 1, 3, 5, 10).
NEW_USER_KS = (0, 1, 3, 5, 10)
#: History-length buckets of the new-user replay: (label, fewest, most known events).
NEW_USER_BUCKETS = (("0 events known", 0, 0), ("1-5 events known", 1, 5),
                    ("6-19 events known", 6, 19))


@dataclass
class Replay:
    """Steps to replay: step ``s`` ranks the catalogue for ``histories`` row ``s`` and
    counts a hit when ``targets[s]`` is in the top K."""

    histories: Histories
    targets: np.ndarray
    #: Events known before the step (the history's length).
    known: np.ndarray
    #: Items kept out of each step's ranking (default: those of its history).
    exclude: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.targets)

    def excluded(self, row: int) -> np.ndarray:
        return self.histories.items[row] if self.exclude is None else self.exclude[row]

    def subset(self, mask: np.ndarray) -> Replay:
        rows = np.flatnonzero(mask)
        exclude = None if self.exclude is None else [self.exclude[i] for i in rows]
        return Replay(self.histories.subset(rows), self.targets[rows], self.known[rows],
                      exclude)

    @classmethod
    def from_user_events(cls, groups: Iterable[tuple[int, pd.DataFrame, pd.DataFrame]],
                         *, frozen: bool = False) -> Replay:
        """One step per event of each ``(user, before, to_predict)``: the history of the
        ``j``-th event to predict is ``before`` plus the ``j`` events preceding it.

        ``frozen``: the history stays ``before`` while the excluded items still grow with
        every event (a service whose model state is frozen still knows what the user has
        since seen), so frozen and live steps differ only in the state scored from."""
        users, items, times, values, types, targets, known = [], [], [], [], [], [], []
        exclude: list[np.ndarray] = []
        for user, before, future in groups:
            ev = pd.concat([before, future]) if len(before) else future
            col_i = ev[ITEM_IDX].to_numpy()
            col_t = ev[TIMESTAMP].to_numpy()
            col_v = ev[VALUE].to_numpy(np.float32)
            col_e = ev[EVENT_TYPE].to_numpy(object)
            for j in range(len(future)):
                end = len(before) + (0 if frozen else j)
                users.append(user)
                items.append(col_i[:end])
                times.append(col_t[:end])
                values.append(col_v[:end])
                types.append(col_e[:end])
                targets.append(int(col_i[len(before) + j]))
                known.append(end)
                exclude.append(col_i[:len(before) + j])
        histories = Histories(np.asarray(users, dtype=np.int64), items, times, values, types)
        return cls(histories, np.asarray(targets, dtype=np.int64),
                   np.asarray(known, dtype=np.int64), exclude if frozen else None)


def _by_user(events: pd.DataFrame, users: np.ndarray) -> dict[int, pd.DataFrame]:
    """Each chosen user's events in time order (a stable sort keeps same-second order)."""
    chosen = events[events[USER_IDX].isin(users)].sort_values([USER_IDX, TIMESTAMP],
                                                                 kind="stable")
    return {int(u): g for u, g in chosen.groupby(USER_IDX, sort=True)}


def streaming_replay(dataset: Dataset, *, users: int = 300, per_user: int = 20,
                     cut_quantile: float = 0.9, seed: int = 0
                     ) -> tuple[Dataset, Replay, Replay]:
    """Training data before the cut, and the same steps with live and frozen histories."""
    ev = dataset.events
    cut = int(np.quantile(ev[TIMESTAMP].to_numpy(), cut_quantile))
    before, after = ev[ev[TIMESTAMP] < cut], ev[ev[TIMESTAMP] >= cut]
    eligible = np.intersect1d(before[USER_IDX].unique(), after[USER_IDX].unique())
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(eligible, size=min(users, len(eligible)), replace=False))
    past, future = _by_user(before, chosen), _by_user(after, chosen)
    steps = [(u, past[u], future[u].iloc[:per_user]) for u in chosen.tolist()]
    live = Replay.from_user_events(steps)
    frozen = Replay.from_user_events(steps, frozen=True)
    return dataset.with_events(before), live, frozen


def new_user_replay(dataset: Dataset, *, stage: str = "test", first: int = 20,
                    user_fraction: float = 0.1, seed: int = 0) -> tuple[Dataset, Replay]:
    """Training data without any event of the held-out users, and their first ``first``
    events as steps. ``valid`` and ``test`` hold out disjoint user shares (both are kept
    out of training, so the training data is the same for either stage)."""
    if stage not in ("valid", "test"):
        raise ValueError(f"unknown stage {stage!r}; use 'valid' or 'test'")
    ev = dataset.events
    present = np.unique(ev[USER_IDX].to_numpy())
    rng = np.random.default_rng(seed)
    n = max(1, int(len(present) * user_fraction))
    drawn = rng.permutation(present)
    test_users, valid_users = np.sort(drawn[:n]), np.sort(drawn[n:2 * n])
    held = np.concatenate([test_users, valid_users])
    train = dataset.with_events(ev[~ev[USER_IDX].isin(held)])
    chosen = test_users if stage == "test" else valid_users
    events = _by_user(ev, chosen)
    replay = Replay.from_user_events(
        (u, events[u].iloc[:0], events[u].iloc[:first]) for u in chosen.tolist())
    return train, replay


def replay_ranks(model: Recommender, replay: Replay, *, max_k: int, batch: int = 256,
                 progress: str | None = None) -> np.ndarray:
    """0-based rank of each step's target among items not in its history (``max_k`` when
    it is not in the top ``max_k``)."""
    ranks = np.empty(len(replay), dtype=np.int64)
    starts = range(0, len(replay), batch)
    if progress:
        starts = track(starts, description=progress, transient=True)
    for start in starts:
        rows = np.arange(start, min(start + batch, len(replay)))
        part = replay.histories.subset(rows)
        scores = np.asarray(model.score(part), dtype=np.float32).copy()
        scores[~np.isfinite(scores)] = -np.inf
        for r, i in enumerate(rows):
            seen = replay.excluded(i)
            scores[r, seen[seen != replay.targets[i]]] = -np.inf
        lists = m.top_k(scores, max_k)
        hit = lists == replay.targets[rows, None]
        ranks[rows] = np.where(hit.any(1), hit.argmax(1), max_k)
    return ranks


def rank_summary(ranks: np.ndarray, ks: tuple[int, ...]) -> dict[str, float]:
    """HR@K and NDCG@K (one relevant item per step) from 0-based ranks, plus the step
    count and the standard error of HR at the smallest K."""
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks < k
        out[f"HR@{k}"] = float(hit.mean()) if len(ranks) else float("nan")
        out[f"NDCG@{k}"] = (float(m.ndcg_from_ranks(ranks, k).mean())
                            if len(ranks) else float("nan"))
        out[f"MRR@{k}"] = (float(np.where(hit, 1.0 / (ranks + 1), 0.0).mean())
                           if len(ranks) else float("nan"))
    k0 = min(ks)
    p = out[f"HR@{k0}"]
    out[f"HR@{k0}_se"] = float(np.sqrt(p * (1 - p) / len(ranks))) if len(ranks) else float("nan")
    out["steps"] = float(len(ranks))
    return out


def new_user_rows(ranks: np.ndarray, replay: Replay, ks: tuple[int, ...]
                  ) -> list[tuple[str, dict[str, float]]]:
    """The new-user table: one row per k in :data:`NEW_USER_KS`, then per bucket."""
    rows = [(f"k={k} (predict event {k + 1})", rank_summary(ranks[replay.known == k], ks))
            for k in NEW_USER_KS if (replay.known == k).any()]
    for label, lo, hi in NEW_USER_BUCKETS:
        mask = (replay.known >= lo) & (replay.known <= hi)
        if mask.any():
            rows.append((label, rank_summary(ranks[mask], ks)))
    return rows
