"""Offline protocols run through the serving pipeline: what users get, measured.

Each user's history of a split is written through :meth:`ServiceCore.ingest` (the code
behind ``POST /v1/events``: durable store, live interest state), then their list comes from
:meth:`RecommendationEngine.recommend` (the code behind ``GET /v1/users/{id}/
recommendations``). The lists are scored by :func:`evaluate_lists`, the same metrics as
the offline harness, so the two figures differ only where serving differs from the model.

Differences by design: the service excludes every item in the user's stored history, so a
target the user had already interacted with cannot be hit (offline never excludes a
target; MovieLens has one rating per user and item, so this does not arise there), and the
model sees the user's last ``history_length`` events (10,000 by default: all of them).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from rich.progress import Progress

from driftrec.data.schema import EVENT_TYPE, ITEM_ID, TEXT, TIMESTAMP, USER_IDX, VALUE
from driftrec.data.splits import Split
from driftrec.evaluation.evaluate import DEFAULT_KS, EvaluationResult, evaluate_lists
from driftrec.evaluation.replay import Replay
from driftrec.service.core import ServiceCore
from driftrec.store import NewEvent

log = logging.getLogger(__name__)

#: Most events per ingest call (the API's default batch limit).
BATCH_EVENTS = 1000


def served_evaluation(core: ServiceCore, split: Split, *, stage: str = "test",
                      ks: tuple[int, ...] = DEFAULT_KS, targets: pd.DataFrame | None = None,
                      progress: bool = True) -> tuple[EvaluationResult, dict[str, float]]:
    """Write each evaluated user's history to the service, recommend, score the lists.

    Returns the metrics and timings (seconds per user to ingest the history and to answer
    the first recommendation, which always computes the model afresh).
    """
    targets = split.targets(stage) if targets is None else targets
    users = np.unique(targets[USER_IDX].to_numpy())
    history = split.history_events(stage)
    history = history[history[USER_IDX].isin(users)]
    by_user = dict(tuple(history.groupby(USER_IDX, sort=False)))
    user_ids = split.train.user_ids
    item_ids = split.train.item_ids
    item_pos = {str(i): j for j, i in enumerate(item_ids)}
    max_k = max(ks)
    lists = np.full((len(users), max_k), -1, dtype=np.int64)
    ingest_s = recommend_s = 0.0

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"serving {len(users):,} users", total=len(users))
        for row, user in enumerate(users):
            uid = str(user_ids[user])
            events = _events(uid, by_user.get(user))
            t0 = time.perf_counter()
            for start in range(0, len(events), BATCH_EVENTS):
                core.ingest(events[start:start + BATCH_EVENTS])
            t1 = time.perf_counter()
            recs = core.engine.recommend(core.store.user_key(uid), max_k, explain=False)
            t2 = time.perf_counter()
            ingest_s += t1 - t0
            recommend_s += t2 - t1
            got = [item_pos.get(r.item_id, -1) for r in recs]
            lists[row, :len(got)] = got
            bar.advance(task)
    result = evaluate_lists(lists, split, stage=stage, ks=ks, targets=targets)
    n = max(len(users), 1)
    return result, {"ingest_ms_per_user": 1000 * ingest_s / n,
                    "recommend_ms_per_user": 1000 * recommend_s / n}


def _events(user_id: str, rows: pd.DataFrame | None) -> list[NewEvent]:
    """A user's history as API events, in the split's (stable) time order."""
    if rows is None or rows.empty:
        return []
    texts = rows[TEXT] if TEXT in rows.columns else [None] * len(rows)
    types = rows[EVENT_TYPE] if EVENT_TYPE in rows.columns else ["rating"] * len(rows)
    values = rows[VALUE] if VALUE in rows.columns else [None] * len(rows)
    out = []
    for item, ts, etype, value, text in zip(rows[ITEM_ID], rows[TIMESTAMP], types, values,
                                            texts, strict=True):
        value = None if value is None or pd.isna(value) else float(value)
        text = text if isinstance(text, str) and text else None
        out.append(NewEvent(user_id, str(item), str(etype), value, int(ts), text))
    return out


def served_replay(core: ServiceCore, replay: Replay, user_ids: np.ndarray,
                  item_ids: np.ndarray, *, max_k: int, progress: bool = True
                  ) -> tuple[np.ndarray, dict[str, float]]:
    """A prequential replay through the service: per user, in step order, the events
    the step knows that the service does not yet are posted through
    :meth:`ServiceCore.ingest`, then the list is asked for. Returns each step's 0-based
    rank of its target (``max_k`` when absent) and the mean milliseconds per step."""
    item_pos = {str(i): j for j, i in enumerate(item_ids)}
    ranks = np.full(len(replay), max_k, dtype=np.int64)
    order = np.lexsort((replay.known, replay.histories.users))
    posted: dict[int, int] = {}
    ingest_s = recommend_s = 0.0
    h = replay.histories
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"serving {len(replay):,} steps", total=len(replay))
        for r in order:
            user = int(h.users[r])
            uid = str(user_ids[user])
            done = posted.get(user, 0)
            new = [NewEvent(uid, str(item_ids[h.items[r][j]]), str(h.event_types[r][j]),
                            float(h.values[r][j]), int(h.timestamps[r][j]), None)
                   for j in range(done, len(h.items[r]))]
            t0 = time.perf_counter()
            if new:
                core.ingest(new)
            posted[user] = len(h.items[r])
            t1 = time.perf_counter()
            recs = core.engine.recommend(core.store.user_key(uid), max_k, explain=False)
            t2 = time.perf_counter()
            ingest_s += t1 - t0
            recommend_s += t2 - t1
            got = [item_pos.get(x.item_id, -1) for x in recs]
            if int(replay.targets[r]) in got:
                ranks[r] = got.index(int(replay.targets[r]))
            bar.advance(task)
    n = max(len(replay), 1)
    return ranks, {"ingest_ms_per_step": 1000 * ingest_s / n,
                   "recommend_ms_per_step": 1000 * recommend_s / n}
