"""Bulk import of MovieLens-1M into a fresh service store: events, users, seconds, events/s.

1. opens a service core (``ServiceCore``) on a fresh SQLite file (or ``--db``) with the
   ``--encoder`` (``hashing`` by default: the figures are about the store and the state
   building, not about a language model) and, with ``--model-dir``, a trained model;
2. stores the ML-1M movies as items (embedded with the encoder), so that events move
   interest states; this step is timed separately;
3. imports all 1,000,209 ratings with :func:`driftrec.service.importer.import_events`
   (read and check the file, build every user's interest state with the live update
   function, write in transactions of ``--batch-rows`` events) and measures wall time and
   peak RSS (sampled in a thread);
4. checks the result: stored events, state rows, ``n_events`` per user.

``--ray-workers 0,2`` repeats steps 1-4 on a fresh store per setting: 0 builds the states
in this process, n on n Ray actors (a local Ray started with n CPUs; ``driftrec import
--ray``), and checks that every setting stored the same states (a digest of all state
rows). Peak RSS is this process's; Ray's actors are processes of their own.

Writes ``benchmarks/results/import-ml-1m.{json,md}`` (``import-ml-1m-<suffix>`` with
``--suffix``).

    .venv/bin/python benchmarks/bench_import.py [--encoder hashing] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from sqlalchemy import func, select

import harness
from driftrec.config import load_settings
from driftrec.data import movielens
from driftrec.evaluation import report
from driftrec.service.core import ItemWrite, ServiceCore
from driftrec.service.importer import import_events
from driftrec.store import tables
from driftrec.utils.resources import measure

#: How this script was called; recorded in every results file it writes.
COMMAND = harness.command()
RESULTS = harness.RESULTS
SECRET = "benchmark-secret"
log = logging.getLogger("bench_import")


def add_items(core: ServiceCore, dataset: str, batch: int = 1000) -> int:
    items = movielens.read_ml1m(movielens.dataset_dir(dataset))[1] if dataset == "ml-1m" \
        else movielens.read_ml100k(movielens.dataset_dir(dataset))[1]
    writes = [ItemWrite(str(r["item_id"]), str(r["title"]), "",
                        {"genres": r["genres"], "year": r["year"]})
              for r in items.to_dict("records")]
    for start in range(0, len(writes), batch):
        core.upsert_items(writes[start:start + batch])
    return len(writes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-1m", choices=sorted(movielens.DATASETS))
    parser.add_argument("--encoder", default="hashing")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite "
                        "file in a temporary folder)")
    parser.add_argument("--batch-rows", type=int, default=20_000)
    parser.add_argument("--ray-workers", default="0", help="comma list: 0 = states built in "
                        "this process, n = on n Ray actors")
    parser.add_argument("--suffix", default="")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not movielens.is_fetched(args.dataset):
        movielens.fetch(args.dataset)

    settings_list = [int(w) for w in args.ray_workers.split(",")]
    if args.db and len(settings_list) > 1:
        parser.error("--db with several --ray-workers settings: each needs a fresh store")
    if max(settings_list) > 0:
        from driftrec.utils.ray_cluster import connect

        connect("local", workers=max(settings_list))
    rows, digests = [], {}
    for workers in settings_list:
        digest, url, db_mb, state_rows = import_once(args, workers, rows)
        digests[workers] = digest
    if len(set(digests.values())) != 1:
        raise AssertionError(f"the settings stored different states: {digests}")

    columns = ["step", "states built", "events", "users", "items", "seconds", "events_per_s",
               "peak_rss_mb"]
    model = args.model_dir.name if args.model_dir else "none"
    title = (f"Bulk import of {args.dataset.upper()} into a fresh "
             f"{'SQLite' if args.db is None else url.split(':')[0]} store")
    report.print_table(rows, columns, title)
    stem = f"import-{args.dataset}" + (f"-{args.suffix}" if args.suffix else "")
    report.write_results(rows, columns, RESULTS, stem, title=title, protocol={
        "dataset": args.dataset, "encoder": args.encoder, "model": model,
        "batch_rows": args.batch_rows, "state_rows": state_rows,
        "database_mb": round(db_mb) if args.db is None else None,
        "same states in every setting": True,
        "load_average_1m": round(os.getloadavg()[0], 1),
        "command": COMMAND})


def import_once(args, workers: int, rows: list[dict]) -> tuple[str, str, float, int]:
    """Steps 1-4 on a fresh store; appends two rows; returns the digest of the stored
    states, the database URL, its size in MB and the number of state rows."""
    where = f"on {workers} Ray actors" if workers else "in this process"
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'import.db'}"
        settings = load_settings(database_url=url, encoder=args.encoder,
                                 model_dir=args.model_dir, id_secret=SECRET)
        core = ServiceCore(settings)
        with measure() as usage:
            n_items = add_items(core, args.dataset)
        rows.append({"step": f"store items ({args.encoder} embeddings)", "items": n_items,
                     "states built": where, "seconds": round(usage.seconds, 1),
                     "peak_rss_mb": round(usage.peak_rss_mb)})
        with measure() as usage:
            summary = import_events(core, args.dataset, batch_rows=args.batch_rows,
                                    ray="local" if workers else None, ray_workers=workers)
        rows.append({"step": "import events + build states", "states built": where,
                     "events": summary.events, "users": summary.users,
                     "seconds": round(usage.seconds, 1),
                     "events_per_s": round(summary.events / usage.seconds),
                     "peak_rss_mb": round(usage.peak_rss_mb),
                     "read_check_s": round(summary.read_seconds, 1),
                     "batches": summary.batches, "users built on Ray": summary.ray_users})
        user_state = tables.user_state.c
        digest = hashlib.sha256()
        with core.store.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(tables.events)).scalar_one()
            states = conn.execute(select(func.count(), func.sum(user_state.n_events))).one()
            for blob, n in conn.execute(select(user_state.state_blob, user_state.n_events)
                                        .order_by(user_state.user_key)):
                digest.update(bytes(blob or b"") + str(n).encode())
        core.close()
        assert stored == summary.events == summary.rows, (stored, summary)
        assert states[0] == summary.users and states[1] == stored, states
        if workers:
            assert summary.ray_users == summary.users, summary
        db_mb = sum(f.stat().st_size for f in Path(tmp).glob("import.db*")) / 2**20
    return digest.hexdigest(), url, db_mb, int(states[0])


if __name__ == "__main__":
    main()
