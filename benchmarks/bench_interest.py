"""Per-event interest update latency, in process, on ML-1M with MiniLM item vectors.

Replays the ML-1M log in time order through ``InterestTracker.apply`` (item lookup plus
:func:`driftrec.interest.update`) and times every event; also times the vectorised batch
build of all states and one user's content-model recommendation from a live state.

    .venv/bin/python benchmarks/bench_interest.py [--events 100000]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

import harness
from driftrec.data.movielens import load_movielens
from driftrec.data.schema import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID, VALUE
from driftrec.evaluation import report
from driftrec.interest import Event, InterestTracker
from driftrec.interest.build import build_states
from driftrec.models.content import ContentRecommender
from driftrec.text.catalogue import embed_items

#: How this script was called; recorded in every results file it writes.
COMMAND = harness.command()
RESULTS = harness.RESULTS


def _stats(name: str, ns: np.ndarray, **extra) -> dict:
    us = ns / 1e3
    return {"operation": name, "n": len(us), "median_us": float(np.median(us)),
            "p99_us": float(np.percentile(us, 99)), "mean_us": float(us.mean()), **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--recommend-users", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ds = load_movielens("ml-1m")
    vecs = embed_items(ds)
    ev = ds.events.sort_values(TIMESTAMP, kind="stable").iloc[: args.events]
    events = [Event(u, i, float(t), e, float(v)) for u, i, t, e, v in
              zip(ev[USER_ID], ev[ITEM_ID], ev[TIMESTAMP], ev[EVENT_TYPE], ev[VALUE],
                  strict=True)]
    tracker = InterestTracker(list(ds.item_ids), vecs)
    times = np.empty(len(events), dtype=np.int64)
    clock = time.perf_counter_ns
    for j, e in enumerate(events):
        t0 = clock()
        tracker.apply(e)
        times[j] = clock() - t0
    rows = [_stats("update (tracker.apply)", times, dim=vecs.shape[1],
                   users=len(tracker.states))]

    t0 = time.perf_counter()
    states = build_states(ds.events, vecs, list(ds.item_ids), clusters=False)
    build_s = time.perf_counter() - t0
    rows.append({"operation": "batch build, all ML-1M events (no clusters)",
                 "n": len(ds.events), "mean_us": build_s * 1e6 / len(ds.events),
                 "total_s": build_s, "users": len(states)})

    model = ContentRecommender().fit(ds, item_vectors=vecs)
    rng = np.random.default_rng(0)
    pick = rng.choice(sorted(states), size=args.recommend_users, replace=False)
    rec = np.empty(len(pick), dtype=np.int64)
    for j, uid in enumerate(pick):
        t0 = clock()
        model.score_states([states[uid]], ds.user_index([uid]))
        rec[j] = clock() - t0
    rows.append(_stats("content score, one user from a live state", rec,
                       items=ds.n_items))
    columns = ["operation", "n", "median_us", "p99_us", "mean_us", "total_s"]
    title = "Interest state latency on ML-1M (MiniLM, 384-d), in process"
    report.print_table(rows, columns, title)
    report.write_results(rows, columns, RESULTS, "interest-latency-ml-1m", title=title,
                         protocol={"dataset": "ml-1m", "encoder": "minilm",
                                   "replayed_events": len(events), "order": "time",
                                   "command": COMMAND})


if __name__ == "__main__":
    main()
