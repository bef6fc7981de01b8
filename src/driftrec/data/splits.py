"""Train / validation / test splits; each is reproducible from its arguments and seed.

All splits keep the dataset's catalogue and indices. Within a user, events are ordered by
timestamp with a *stable* sort, so events with equal timestamps keep their source-file
order (this decides which of two same-second ratings is the test item).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from driftrec.data.dataset import Dataset, Histories
from driftrec.data.errors import DataError
from driftrec.data.schema import ITEM_IDX, TIMESTAMP, USER_IDX

STAGES = ("valid", "test")


@dataclass
class Split:
    """A training dataset plus held-out validation and test events.

    Histories for the ``valid`` stage are the training events; for ``test`` they are the
    training plus validation events (the validation item is known by test time).
    """

    name: str
    train: Dataset
    valid: pd.DataFrame
    test: pd.DataFrame
    info: dict[str, object] = field(default_factory=dict)

    def targets(self, stage: str) -> pd.DataFrame:
        if stage not in STAGES:
            raise DataError(f"unknown stage {stage!r}; use one of {STAGES}", field="stage")
        return self.valid if stage == "valid" else self.test

    def history_events(self, stage: str) -> pd.DataFrame:
        if stage == "valid":
            return self.train.events
        return pd.concat([self.train.events, self.valid], ignore_index=True)

    def histories(self, stage: str, users: np.ndarray | None = None) -> Histories:
        """Histories of the users with targets in ``stage`` (sorted by user index)."""
        if users is None:
            users = np.unique(self.targets(stage)[USER_IDX].to_numpy())
        return Histories.from_events(self.history_events(stage), users)


def rank_in_user(events: pd.DataFrame) -> np.ndarray:
    """For every row: 0 for the user's first event in time order, 1 for the next, ...

    Events are ordered by timestamp with a stable sort, so ties keep their row order.
    """
    users = events[USER_IDX].to_numpy()
    order = np.lexsort((events[TIMESTAMP].to_numpy(), users))
    users_sorted = users[order]
    starts = np.concatenate([[0], np.cumsum(np.bincount(users_sorted))[:-1]])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - starts[users_sorted]
    return rank


def position_from_end(events: pd.DataFrame) -> np.ndarray:
    """For every row: 0 for the user's last event in time order, 1 for the one before, ..."""
    users = events[USER_IDX].to_numpy()
    counts = np.bincount(users) if len(users) else np.zeros(0, dtype=np.int64)
    return counts[users] - 1 - rank_in_user(events)


def sample_users(events: pd.DataFrame, n_users: int, *, seed: int = 0,
                 min_events: int = 1) -> np.ndarray:
    """Up to ``n_users`` distinct users with at least ``min_events`` events, drawn without
    replacement by ``np.random.default_rng(seed)``; sorted by user index."""
    users = events[USER_IDX].to_numpy()
    counts = np.bincount(users) if len(users) else np.zeros(0, dtype=np.int64)
    eligible = np.flatnonzero(counts >= min_events)
    if n_users <= 0 or len(eligible) == 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(eligible, size=min(n_users, len(eligible)), replace=False))


def holdout_last(events: pd.DataFrame, *, users: np.ndarray | None = None, last: int = 1,
                 min_events: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's ``last`` latest events: the one hold-out every protocol and
    model uses (leave-one-out, the fused model's weights, sequence early stopping).

    Only users in ``users`` (default: every user) with at least ``min_events`` events are
    held out. "Latest" is in time order with a stable sort, so of two events with equal
    timestamps the one later in the frame is the later one. Returns ``(rest, held)``:
    ``rest`` keeps the frame's row order and index; ``held`` is in user order, each user's
    events in time order, with a fresh index.
    """
    user_col = events[USER_IDX].to_numpy()
    counts = np.bincount(user_col) if len(user_col) else np.zeros(0, dtype=np.int64)
    rank = rank_in_user(events)
    mask = (counts[user_col] - 1 - rank < last) & (counts[user_col] >= min_events)
    if users is not None:
        mask &= np.isin(user_col, np.asarray(users, dtype=np.int64))
    rows = np.flatnonzero(mask)
    rows = rows[np.lexsort((rank[rows], user_col[rows]))]
    keep = np.ones(len(events), dtype=bool)
    keep[rows] = False
    return events.loc[keep], events.iloc[rows].reset_index(drop=True)


def holdout_sample(dataset: Dataset, n_users: int, *, seed: int = 0, min_events: int = 3
                   ) -> tuple[Dataset, pd.DataFrame]:
    """The latest event of up to ``n_users`` users with at least ``min_events`` events
    (drawn by :func:`sample_users`) held out of ``dataset``: ``(rest, held)``, ``held``
    one event per user in user order (see :func:`holdout_last`)."""
    chosen = sample_users(dataset.events, n_users, seed=seed, min_events=min_events)
    rest, held = holdout_last(dataset.events, users=chosen)
    return dataset.with_events(rest), held


def leave_one_out(dataset: Dataset, *, min_history: int = 1) -> Split:
    """Per user: last event is test, the one before is validation, the rest is training.

    Users with fewer than ``min_history + 2`` events keep all events in training.
    """
    train, held = holdout_last(dataset.events, last=2, min_events=min_history + 2)
    from_end = position_from_end(held)
    return Split(
        name="loo",
        train=dataset.with_events(train),
        valid=held.loc[from_end == 1].reset_index(drop=True),
        test=held.loc[from_end == 0].reset_index(drop=True),
        info={"protocol": "leave-one-out", "min_history": min_history},
    )


def temporal_split(dataset: Dataset, *, test_fraction: float = 0.1,
                   valid_fraction: float = 0.05, cut: int | None = None) -> Split:
    """Global time cut: events at or after the cut are test (``cut`` defaults to the
    quantile that leaves ``test_fraction`` of events after it); validation is the slice of
    ``valid_fraction`` just before. Only users and items seen in training are evaluated."""
    events = dataset.events
    ts = events[TIMESTAMP].to_numpy()
    if cut is None:
        cut = int(np.quantile(ts, 1.0 - test_fraction))
    valid_cut = int(np.quantile(ts[ts < cut], 1.0 - valid_fraction)) if valid_fraction else cut
    train = events.loc[ts < valid_cut]
    seen_users = set(train[USER_IDX])
    later = events.loc[ts >= valid_cut]
    later = later.loc[later[USER_IDX].isin(seen_users)]
    valid = later.loc[later[TIMESTAMP] < cut]
    test = later.loc[later[TIMESTAMP] >= cut]
    return Split(
        name="temporal",
        train=dataset.with_events(train),
        valid=valid.reset_index(drop=True),
        test=test.reset_index(drop=True),
        info={"protocol": "temporal", "cut": cut, "valid_cut": valid_cut},
    )


def truncated_user_split(dataset: Dataset, *, keep_first: int, user_fraction: float = 0.1,
                         seed: int = 0) -> Split:
    """Leave-one-out, but a random share of users keep only their first ``keep_first``
    events as history; test is their usual *last* event and only they are evaluated.

    Not what a new user is (their first events are in training, and the target is often
    years later): :func:`driftrec.evaluation.replay.new_user_replay` is that protocol."""
    base = leave_one_out(dataset)
    rng = np.random.default_rng(seed)
    users = np.unique(base.test[USER_IDX].to_numpy())
    chosen = np.sort(rng.choice(users, size=max(1, int(len(users) * user_fraction)),
                                replace=False))
    train = base.train.events
    is_cold = train[USER_IDX].isin(set(chosen.tolist())).to_numpy()
    keep = ~is_cold | (rank_in_user(train) < keep_first)
    test = base.test.loc[base.test[USER_IDX].isin(set(chosen.tolist()))]
    valid = base.valid.loc[~base.valid[USER_IDX].isin(set(chosen.tolist()))]
    return Split(
        name=f"truncated-user-{keep_first}",
        train=dataset.with_events(train.loc[keep]),
        valid=valid.reset_index(drop=True),
        test=test.reset_index(drop=True),
        info={"protocol": "truncated-user", "keep_first": keep_first, "users": len(chosen),
              "seed": seed},
    )


def cold_item_split(dataset: Dataset, *, item_fraction: float = 0.1, seed: int = 0) -> Split:
    """Leave-one-out with a random share of items made cold: all their training and
    validation events are removed (their text stays in the catalogue). Test keeps every
    user's last event; ``info["cold_items"]`` lists the cold item indices so metrics can be
    reported on the test events whose target is cold."""
    base = leave_one_out(dataset)
    rng = np.random.default_rng(seed)
    n_cold = max(1, int(dataset.n_items * item_fraction))
    cold = np.sort(rng.choice(dataset.n_items, size=n_cold, replace=False))
    cold_set = set(cold.tolist())
    train = base.train.events
    valid = base.valid
    return Split(
        name="cold-item",
        train=dataset.with_events(train.loc[~train[ITEM_IDX].isin(cold_set)]),
        valid=valid.loc[~valid[ITEM_IDX].isin(cold_set)].reset_index(drop=True),
        test=base.test,
        info={"protocol": "cold-item", "item_fraction": item_fraction, "seed": seed,
              "cold_items": cold},
    )
