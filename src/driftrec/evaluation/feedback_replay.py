"""Feedback replay: does learning the fusion weights online help, through the serving code?

Protocol (prequential, one pass in time order):

1. everything is fitted on events before a time cut; the service's store starts with the
   replayed users' events before the cut (bulk import, the same state update as live);
2. the later events are replayed in time order; before each event the user is served a
   list (``RecommendationEngine.recommend``, k = 10, seen items excluded) and the event's
   item scores a hit if it is on the list (HR@10, NDCG@10);
3. the list is then labelled as a user would have labelled it: the event's item positive,
   the other shown items negative; every ``batch`` events the online update
   (:func:`driftrec.feedback.update.step`, the service's own step and guard rails) learns
   from the labelled rows and the engine serves the new weights;
4. the event is ingested (``ServiceCore.ingest``), so the user's interest moves as live.

A drift scenario (:class:`SignalDrift`, simulated and labelled so) replaces part of the
later events' items by the user's unseen candidate that one of the model's own signals
ranks first: behaviour leans on that signal far more than before the cut, a change that
the fusion weights can express, so a frozen W falls behind and a refitted W shows how far.

Variants: ``frozen`` (the offline weights throughout), ``online`` (the loop above), and
``refit`` (weights refitted by logistic regression on all the rows the frozen run labelled,
then fixed: an upper reference that has seen the future). A service with an exploration
slot (:mod:`driftrec.feedback.explore`) has its per-item counts updated from each labelled
list at once (the live labelling pass does it when the attribution window closes), so the
replay measures what the slot costs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rich.progress import Progress
from sklearn.linear_model import LogisticRegression

from driftrec.data.schema import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID, VALUE
from driftrec.feedback.config import FeedbackConfig
from driftrec.feedback.loop import offline_weights
from driftrec.feedback.update import Challenger, Weights, step
from driftrec.recommend.pipeline import OnlineWeights
from driftrec.service.core import ServiceCore
from driftrec.store import NewEvent
from driftrec.store import feedback as fb


@dataclass(frozen=True)
class SignalDrift:
    """A simulated shift (clearly not real data): with probability ``share`` a later
    event's item is replaced by the user's unseen candidate with the highest ``signal``
    (a fused signal, e.g. ``popularity``) at that moment. The draws come from ``seed``
    and the candidates' signals do not depend on the weights served, so every variant
    replays the same events."""

    signal: str
    share: float
    seed: int = 0


@dataclass
class ReplayResult:
    variant: str
    events: int
    hits: np.ndarray = field(repr=False)
    ndcg: np.ndarray = field(repr=False)
    updates: int = 0
    rollbacks: int = 0
    update_us_per_row: float = float("nan")
    weights: dict[str, float] = field(default_factory=dict)
    rows: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    #: Events whose item the drift replaced.
    drifted: int = 0

    def summary(self) -> dict[str, float | int | str]:
        n = max(len(self.hits), 1)
        return {"variant": self.variant, "events": self.events,
                "HR@10": float(self.hits.mean()), "HR@10_se": float(self.hits.std() / math.sqrt(n)),
                "NDCG@10": float(self.ndcg.mean()),
                "NDCG@10_se": float(self.ndcg.std() / math.sqrt(n)),
                "updates": self.updates, "rollbacks": self.rollbacks,
                "update_us_per_row": round(self.update_us_per_row, 2)}


def replay(core: ServiceCore, later: pd.DataFrame, variant: str, *, online: bool = False,
           config: FeedbackConfig | None = None, fixed: Weights | None = None,
           batch: int = 50, k: int = 10, progress: bool = True,
           drift: SignalDrift | None = None) -> ReplayResult:
    """Replay ``later`` (time-ordered events) through ``core`` (see module docstring):
    ``online`` learns the weights as it goes, ``fixed`` serves given weights throughout,
    neither serves the model's offline weights; ``drift`` shifts the events as it goes."""
    config = config or FeedbackConfig()
    loaded = core.models.current
    offline = offline_weights(loaded.model) if loaded is not None else None
    if offline is None:
        raise ValueError("the feedback replay needs the fused model")
    signals = list(loaded.model.signals)
    if drift is not None and drift.signal not in signals:
        raise ValueError(f"drift signal {drift.signal!r} is not one of the model's signals "
                         f"({', '.join(signals)})")
    rng = np.random.default_rng(drift.seed if drift is not None else 0)
    item_of_column = {col: item for item, col in loaded.item_pos.items()}
    drifted = 0
    current = fixed if fixed is not None else offline
    core.engine.online_weights = (OnlineWeights(loaded.version, 1, fixed)
                                  if fixed is not None else None)
    challenger = Challenger(config.window)
    hits, gains = np.zeros(len(later)), np.zeros(len(later))
    xs: list[list[float]] = []
    ys: list[int] = []
    pending_x: list[list[float]] = []
    pending_y: list[int] = []
    updates = rollbacks = 0
    update_s = 0.0
    update_rows = 0
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"replay ({variant})", total=len(later))
        for n, ev in enumerate(later.itertuples(index=False)):
            user, item = str(getattr(ev, USER_ID)), str(getattr(ev, ITEM_ID))
            key = core.store.user_key(user)
            recs = core.engine.recommend(key, k, explain=False)
            if drift is not None and rng.random() < drift.share:
                followed = _signal_favourite(core, key, signals.index(drift.signal),
                                             item_of_column)
                if followed is not None:
                    item, drifted = followed, drifted + 1
            shown = [r.item_id for r in recs]
            if item in shown:
                rank = shown.index(item)
                hits[n], gains[n] = 1.0, 1.0 / math.log2(rank + 2)
            for r in recs:
                if r.features is not None:
                    pending_x.append(r.features)
                    pending_y.append(int(r.item_id == item))
            if core.engine.explorer is not None and recs:
                with core.store.transaction() as conn, conn.begin():
                    fb.add_item_feedback(conn, {r.item_id: (1, int(r.item_id == item))
                                                for r in recs})
            if online and len(pending_y) and (n + 1) % batch == 0:
                t0 = time.perf_counter()
                result = step(current, offline, np.asarray(pending_x), np.asarray(pending_y),
                              np.ones(len(pending_y)), config, challenger)
                update_s += time.perf_counter() - t0
                update_rows += len(pending_y)
                current = result.weights
                updates += 1
                rollbacks += result.rolled_back
                core.engine.online_weights = OnlineWeights(loaded.version, updates, current)
            if not online or (n + 1) % batch == 0:
                xs.extend(pending_x)
                ys.extend(pending_y)
                pending_x, pending_y = [], []
            value = getattr(ev, VALUE)
            core.ingest([NewEvent(user, item, str(getattr(ev, EVENT_TYPE)),
                                  None if pd.isna(value) else float(value),
                                  int(getattr(ev, TIMESTAMP)))])
            bar.advance(task)
    core.engine.online_weights = None
    named = {s: float(w) for s, w in zip(signals, current.coef, strict=True)}
    named["bias"] = float(current.intercept)
    return ReplayResult(variant, len(later), hits, gains, updates, rollbacks,
                        1e6 * update_s / update_rows if update_rows else float("nan"), named,
                        (np.asarray(xs), np.asarray(ys)), drifted)


def _signal_favourite(core: ServiceCore, user_key: str, column: int,
                      item_of_column: dict[int, str]) -> str | None:
    """The user's unseen candidate with the highest value of one fused signal (the
    model's view of the user as just served), or None when the model has no candidates."""
    loaded = core.models.current
    ctx = core.engine.user_context(user_key)
    scores = ctx.model_scores.get(loaded.version) if loaded is not None else None
    if scores is None or scores.candidates is None or scores.features is None:
        return None
    for row in np.argsort(-scores.features[:, column], kind="stable"):
        item = item_of_column.get(int(scores.candidates[row]))
        if item is not None and item not in ctx.seen:
            return item
    return None


def refit_weights(rows: tuple[np.ndarray, np.ndarray], c: float = 1.0) -> Weights:
    """Pointwise logistic regression on labelled replay rows (standardised signals)."""
    x, y = rows
    lr = LogisticRegression(C=c, max_iter=1000).fit(x, y)
    return Weights(lr.coef_[0].astype(np.float64), float(lr.intercept_[0]), 0)
