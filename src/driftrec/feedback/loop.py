"""The feedback worker: label closed impressions, update the fusion weights, keep history.

Each service process runs one worker thread (:meth:`FeedbackLoop.start`); a pass
(:meth:`FeedbackLoop.run_once`) is one database transaction that takes the impressions
whose attribution window has closed (locked, so two processes never take the same one),
labels them (:mod:`driftrec.feedback.labels`), applies one guarded update
(:mod:`driftrec.feedback.update`) to the active weights, stores the result as a new weights
version and makes it active. At most every ``PRUNE_EVERY_S`` a pass also deletes the
impressions past retention, in a short transaction of its own. Every process serves
the active version (it is read with the other shared settings on each request).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from driftrec.feedback.config import FeedbackConfig
from driftrec.feedback.labels import Outcome, label_items
from driftrec.feedback.update import Challenger, Weights, step
from driftrec.recommend.models import ModelHolder
from driftrec.store import Store
from driftrec.store import feedback as fb

log = logging.getLogger(__name__)

#: Seconds between retention passes (each in a transaction of its own; labelling runs every
#: pass).
PRUNE_EVERY_S = 60.0


def offline_weights(model: Any) -> Weights | None:
    """The fused model's fitted ``(W, b)`` over standardised signals (None: not fused)."""
    coef = getattr(model, "coef", None)
    if coef is None or getattr(model, "name", "") != "fused":
        return None
    return Weights(np.asarray(coef, dtype=np.float64).copy(), float(model.intercept), 0)


class FeedbackLoop:
    """Labels impressions and updates the served fused model's weights (see module)."""

    def __init__(self, store: Store, models: ModelHolder, config: FeedbackConfig) -> None:
        self.store = store
        self.models = models
        self.config = config
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = -float("inf")

    # -- one pass -------------------------------------------------------------------
    def run_once(self, now: float | None = None) -> dict[str, Any]:
        """Label what is due and learn from it; returns what happened."""
        now = time.time() if now is None else now
        cfg = self.config
        loaded = self.models.current
        offline = offline_weights(loaded.model) if loaded is not None else None
        report: dict[str, Any] = {"labelled": 0, "rows": 0, "version": None,
                                  "rolled_back": False, "pruned": 0}
        # labels and counts change no user's context; new weights mark themselves
        with self.store.transaction(changes=False) as conn, conn.begin():
            due = fb.due_impressions(conn, now - cfg.window_s, cfg.batch)
            xs, ys, ws = [], [], []
            counts: dict[str, list[int]] = {}
            for imp in due:
                events = fb.attributed_events(conn, imp, cfg.window_s)
                labels = label_items(
                    [(item, pos) for item, pos, _ in imp.items],
                    [Outcome(e.item_id, e.event_type, e.value) for e in events],
                    negative_weight=cfg.negative_weight, position_decay=cfg.position_decay)
                for (item, _, _), label in zip(imp.items, labels, strict=True):
                    seen = counts.setdefault(item, [0, 0])
                    seen[0] += 1
                    seen[1] += int(label.y == 1)
                if loaded is None or imp.model_version != loaded.version:
                    continue  # features of another model's signals: nothing to learn
                for (_, _, x), label in zip(imp.items, labels, strict=True):
                    if x is not None and label.weight > 0:
                        xs.append(x)
                        ys.append(label.y)
                        ws.append(label.weight)
            fb.mark_labelled(conn, [imp.recommendation_id for imp in due])
            fb.add_item_feedback(conn, {i: (s, e) for i, (s, e) in counts.items()})
            report["labelled"] = len(due)
            report["rows"] = len(ys)
            if cfg.enabled and offline is not None and ys:
                report.update(self._learn(conn, loaded.version, offline, np.asarray(xs),
                                          np.asarray(ys), np.asarray(ws), now))
        if now - self._pruned_at >= PRUNE_EVERY_S:
            report["pruned"] = fb.prune_impressions(
                self.store, now - cfg.retention_days * 86_400, cfg.retention_rows)
            self._pruned_at = now
        if report["version"] is not None:
            log.info("feedback: %d impressions, %d labelled rows -> weights version %d%s",
                     report["labelled"], report["rows"], report["version"],
                     " (rolled back to the offline weights)" if report["rolled_back"] else "")
        return report

    def _learn(self, conn, model_version: str, offline: Weights, x: np.ndarray, y: np.ndarray,
               w: np.ndarray, now: float) -> dict[str, Any]:
        cfg = self.config
        base = fb.active_weights(conn, model_version, lock=True)
        if base is None:
            current, stats = offline, {}
        else:
            current = Weights(np.asarray(base.coef), base.intercept, base.updates)
            stats = dict(base.stats)
        challenger = Challenger.from_dict(stats.get("challenger", {}), cfg.window)
        result = step(current, offline, x, y, w, cfg, challenger)
        new_stats = {
            "challenger": challenger.to_dict(),
            "rollbacks": int(stats.get("rollbacks", 0)) + int(result.rolled_back),
            "rows": int(stats.get("rows", 0)) + len(y),
            "positives": int(stats.get("positives", 0)) + int(y.sum()),
            "last_batch": {"rows": len(y), "positives": int(y.sum()),
                           "step_norm": result.step_norm},
            "previous_version": base.version if base is not None else 0,
        }
        version = fb.write_weights(conn, fb.WeightsRow(
            0, model_version, result.weights.coef.tolist(), result.weights.intercept,
            result.weights.updates, "rollback" if result.rolled_back else "update", new_stats,
            now))
        if result.rolled_back:
            log.warning("feedback: online weights lost to the offline ones by more than %.3f "
                        "log-loss; rolled back (version %d)", cfg.margin, version)
        return {"version": version, "rolled_back": result.rolled_back}

    # -- background thread ----------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="driftrec-feedback",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.config.interval_s):
            try:
                self.run_once()
            except Exception as exc:  # keep serving; the next pass retries
                log.warning("feedback pass failed: %s", exc)
