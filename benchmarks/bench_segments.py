"""User segments on MovieLens-1M: which space and which k, by criteria that reflect use.

Interest vectors are every user's long-term interest over all their ratings
(``driftrec.interest.build.history_interest`` over MiniLM item embeddings). 10% of users
(seeded) are held out as new users; the segmentations are fitted on the other 90%. For each
segment space and each k in ``--k``:

- ``silhouette``: cosine silhouette in the space clustered (sample of 3,000 users, seeded);
- ``seed_ari``: adjusted Rand index between the fit and fits with ``--runs`` other seeds;
- ``bootstrap_ari``: mean over ``--runs`` pairs of bootstrap samples (with replacement) of
  the ARI between the two fits' labels of the users both samples contain;
- usefulness for a new user: each held-out user is placed in a segment by the interest of
  their first event alone (that item's vector); the segment's most popular items (counted
  over its training members) are recommended, the first item excluded, and scored on the
  user's next ``--next`` events: ``HR@10`` is the share of those (user, event) pairs whose
  item is in the top 10. ``global`` is the same with popularity over all training users;
  ``gain`` the difference, with a 95% bootstrap interval over held-out users. ``blend``
  ranks by the mean of the segment's and everybody's item shares (segment popularity with
  a global prior). ``oracle placement`` places the held-out user by the long-term interest
  of their whole history instead (targets included: an upper bound on what placement can
  do, not a result).

Spaces: ``unit`` (the unit long-term vectors, as before), ``pca-D`` (centred on the mean
interest, projected onto the first D principal directions, normalised; the library
default is ``pca-8``). A k meets the target when silhouette >= .25, bootstrap ARI >= .8
and the gain's interval is above 0.

It then fits the default segmentation (``driftrec.interest.segments.segment_users``, its
own k rule) on all users, writes the profiles of its segments (distinguishing genres and
title words, exemplars, size, drift) into the results file, and measures identity over
time: segments fitted on the events before the 80% time quantile and refitted on all
events, with and without matching ids (share of users kept in a segment of the same id).

Writes ``benchmarks/results/segments-ml-1m.{json,md}``.

    .venv/bin/python benchmarks/bench_segments.py
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from driftrec.data.dataset import Histories
from driftrec.data.movielens import load_movielens
from driftrec.evaluation import report
from driftrec.interest.build import history_interest
from driftrec.interest.profiles import segment_profiles
from driftrec.interest.segments import (
    DEFAULT_DIMS,
    MIN_STABILITY,
    Space,
    k_criteria,
    segment_users,
)
from driftrec.text.catalogue import embed_items
from driftrec.text.encoders import l2_normalise

COMMAND = shlex.join([f"benchmarks/{Path(__file__).name}", *sys.argv[1:]])
RESULTS = Path(__file__).parent / "results"
log = logging.getLogger("bench_segments")

COLUMNS = ["space", "k", "silhouette", "seed_ari", "bootstrap_ari", "smallest",
           "HR@10 segment", "HR@10 blend", "HR@10 global", "HR@10 segment, oracle placement",
           "gain", "gain 95% CI",
           "blend gain", "blend gain 95% CI", "meets target", "fit_s"]


def first_and_next(events, users: np.ndarray, n_next: int) -> dict[int, tuple[int, list[int]]]:
    """Each user's first item and the items of their next ``n_next`` events (time order,
    ties in file order)."""
    ev = events[events["user_idx"].isin(users)].sort_values(["user_idx", "timestamp"],
                                                            kind="stable")
    out = {}
    for u, items in ev.groupby("user_idx", sort=True)["item_idx"]:
        items = items.to_numpy()
        if len(items) >= 2:
            out[int(u)] = (int(items[0]), [int(i) for i in items[1:1 + n_next]])
    return out


def hit_rates(top_of, held: dict[int, tuple[int, list[int]]]) -> np.ndarray:
    """Per held-out user: the share of their next events whose item is in their top 10."""
    rates = []
    for u, (first, targets) in held.items():
        top = set(top_of(u, first))
        rates.append(np.mean([t in top for t in targets]))
    return np.asarray(rates)


def top10(counts: np.ndarray, exclude: int) -> list[int]:
    order = np.argsort(-counts, kind="stable")[:11]
    return [int(i) for i in order if i != exclude][:10]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="ml-1m")
    ap.add_argument("--k", default="2-20", help="k values: a range a-b or a comma list")
    ap.add_argument("--spaces", default="unit,pca-4,pca-8,pca-16")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--next", type=int, default=10, dest="n_next")
    ap.add_argument("--holdout", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if "-" in args.k:
        lo, hi = (int(x) for x in args.k.split("-"))
        ks = list(range(lo, hi + 1))
    else:
        ks = [int(x) for x in args.k.split(",")]

    ds = load_movielens(args.dataset)
    vecs = embed_items(ds)
    users = np.arange(ds.n_users)
    im = history_interest(Histories.from_events(ds.events, users), vecs)
    unit = l2_normalise(im.long_term.astype(np.float32))
    short = l2_normalise(im.short_term.astype(np.float32))
    drift = 1.0 - np.sum(unit * short, axis=1)
    rng = np.random.default_rng(args.seed)
    held_users = np.sort(rng.choice(ds.n_users, round(args.holdout * ds.n_users),
                                    replace=False))
    train = np.setdiff1d(users, held_users)
    held = first_and_next(ds.events, held_users, args.n_next)
    ev = ds.events
    train_ev = ev[ev["user_idx"].isin(train)]
    global_counts = np.bincount(train_ev["item_idx"], minlength=ds.n_items).astype(float)
    global_rates = hit_rates(lambda u, first: top10(global_counts, first), held)
    train_pos = {int(u): r for r, u in enumerate(train)}
    ev_rows = train_ev["user_idx"].map(train_pos).to_numpy()
    ev_items = train_ev["item_idx"].to_numpy()
    item_unit = l2_normalise(vecs.astype(np.float32))

    rows = []
    for space_name in args.spaces.split(","):
        x_unit = unit[train]
        space = None
        if space_name != "unit":
            space = Space.fit(x_unit, int(space_name.split("-")[1]))
        x = x_unit if space is None else space.project(x_unit)
        for k in ks:
            t0 = time.perf_counter()
            from sklearn.cluster import KMeans

            km = KMeans(n_clusters=k, n_init=4, random_state=args.seed).fit(x)
            crit = k_criteria(x, k, seed=args.seed, runs=args.runs, fitted=km)
            # usefulness: place each held-out user by their first item's vector
            seg_counts = np.zeros((k, ds.n_items))
            np.add.at(seg_counts, (km.labels_[ev_rows], ev_items), 1.0)
            firsts = np.array([first for first, _ in held.values()])
            z = item_unit[firsts] if space is None else space.project(item_unit[firsts])
            first_seg = dict(zip(held, km.predict(l2_normalise(z)).tolist(), strict=True))
            seg_rates = hit_rates(
                lambda u, first, c=seg_counts, s=first_seg: top10(c[s[u]], first), held)
            shares = seg_counts / np.maximum(seg_counts.sum(1, keepdims=True), 1.0)
            blend = 0.5 * shares + 0.5 * global_counts / global_counts.sum()
            blend_rates = hit_rates(
                lambda u, first, c=blend, s=first_seg: top10(c[s[u]], first), held)
            full = unit[list(held)] if space is None else space.project(unit[list(held)])
            full_seg = dict(zip(held, km.predict(l2_normalise(full)).tolist(), strict=True))
            oracle_rates = hit_rates(
                lambda u, first, c=seg_counts, s=full_seg: top10(c[s[u]], first), held)
            diff = seg_rates - global_rates
            bdiff = blend_rates - global_rates
            picks = [rng.integers(0, len(diff), len(diff)) for _ in range(1000)]
            lo, hi = np.quantile([diff[p].mean() for p in picks], [0.025, 0.975])
            blo, bhi = np.quantile([bdiff[p].mean() for p in picks], [0.025, 0.975])
            row = {"space": space_name, "k": k, **{n: round(v, 4) for n, v in crit.items()},
                   "smallest": int(np.bincount(km.labels_, minlength=k).min()),
                   "HR@10 segment": round(float(seg_rates.mean()), 4),
                   "HR@10 blend": round(float(blend_rates.mean()), 4),
                   "HR@10 global": round(float(global_rates.mean()), 4),
                   "HR@10 segment, oracle placement": round(float(oracle_rates.mean()), 4),
                   "gain": round(float(diff.mean()), 4),
                   "gain 95% CI": f"{lo:+.4f} .. {hi:+.4f}",
                   "blend gain": round(float(bdiff.mean()), 4),
                   "blend gain 95% CI": f"{blo:+.4f} .. {bhi:+.4f}",
                   "meets target": bool(crit["silhouette"] >= 0.25
                                        and crit["bootstrap_ari"] >= MIN_STABILITY
                                        and max(lo, blo) > 0),
                   "fit_s": round(time.perf_counter() - t0, 1)}
            log.info("%s", row)
            rows.append(row)

    # the library default on all users, with its own k rule, and its profiles
    t0 = time.perf_counter()
    user_ids = [str(u) for u in ds.user_ids]
    seg = segment_users(user_ids, unit, seed=args.seed)
    fit_default_s = time.perf_counter() - t0
    ordered = ev.sort_values(["user_idx", "timestamp"], kind="stable")
    item_ids = np.asarray(ds.item_ids).astype(str)
    member_items = [[] for _ in users]
    for u, items in ordered.groupby("user_idx", sort=True)["item_idx"]:
        member_items[int(u)] = item_ids[items.to_numpy()].tolist()
    genres = {str(i): [g for g in str(gs).split("|") if g]
              for i, gs in zip(ds.items["item_id"], ds.items["genres"].fillna(""), strict=True)}
    titles = {str(i): str(t) for i, t in zip(ds.items["item_id"], ds.items["title"],
                                              strict=True)}
    profiles = segment_profiles(seg, member_items, topics=genres, titles=titles,
                                item_vectors=dict(zip(item_ids.tolist(), item_unit,
                                                      strict=True)),
                                drift=drift)

    # identity over time: fit before the 80% time cut, refit on everything
    cut = float(np.quantile(ev["timestamp"], 0.8))
    early = history_interest(Histories.from_events(ev[ev["timestamp"] < cut], users), vecs)
    early_unit = l2_normalise(early.long_term.astype(np.float32))
    before = segment_users(user_ids, early_unit, seed=args.seed, k_values=[seg.k])
    matched = segment_users(user_ids, unit, seed=args.seed + 1, k_values=[seg.k],
                            previous=before)
    unmatched = segment_users(user_ids, unit, seed=args.seed + 1, k_values=[seg.k])
    both = (before.labels >= 0) & (matched.labels >= 0)
    kept_matched = float((before.labels[both] == matched.labels[both]).mean())
    kept_unmatched = float((before.labels[both] == unmatched.labels[both]).mean())
    followed = before.follow(unit)
    kept_followed = float((before.labels[both] == followed.labels[both]).mean())

    default = {"space": f"pca-{DEFAULT_DIMS}", "k": seg.k,
               "silhouette": round(seg.silhouette, 4),
               "bootstrap_ari": round(seg.criteria[seg.k].get("bootstrap_ari", float("nan")), 4),
               "fit_s (all k tried)": round(fit_default_s, 1),
               "users kept in same id after refit, matched": round(kept_matched, 4),
               "same, ids not matched": round(kept_unmatched, 4),
               "same, centroids followed (no refit)": round(kept_followed, 4),
               "users in both": int(both.sum())}
    protocol = {"command": COMMAND, "dataset": args.dataset, "encoder": "minilm",
                "interest": "long-term, all events", "holdout_users": len(held_users),
                "held_out_with_next_events": len(held), "next_events": args.n_next,
                "runs": args.runs, "seed": args.seed, "target": "silhouette>=.25, "
                "bootstrap ARI>=.8, gain (segment or blend) CI above 0", "default": default}
    report.print_table(rows, COLUMNS, f"Segments on {args.dataset}: criteria by space and k")
    json_path, md_path = report.write_results(
        rows, COLUMNS, args.out, f"segments-{args.dataset}",
        title=f"User segments on {args.dataset}: silhouette, stability, usefulness",
        protocol=protocol)
    data = json.loads(json_path.read_text())
    data["profiles"] = profiles
    json_path.write_text(json.dumps(data, indent=2, default=str))
    md = md_path.read_text().rstrip("\n").split("\n")
    md[-1:-1] = ["## Default segmentation", "",
                 report.markdown_table([default], list(default)), "",
                 "## Segment profiles", "", profile_table(profiles), ""]
    md_path.write_text("\n".join(md) + "\n")
    print(profile_table(profiles))
    print(json.dumps(default, indent=2))


def profile_table(profiles: list[dict]) -> str:
    lines = ["| id | users | distinguishing genres (lift) | title words (lift) | exemplars "
             "(events in segment) | drift median / p75 |", "|---|---|---|---|---|---|"]
    for p in profiles:
        genres = ", ".join(f"{g['term']} ({g['lift']:.2f})" for g in p["genres"][:3])
        words = ", ".join(f"{w['term']} ({w['lift']:.2f})" for w in p["title_words"][:3])
        ex = "; ".join(f"{e['title']} ({e['events']})" for e in p["exemplars"][:3])
        lines.append(f"| {p['id']} | {p['users']} | {genres} | {words} | {ex} | "
                     f"{p['drift'].get('median', '')} / {p['drift'].get('p75', '')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
