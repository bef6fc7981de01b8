"""Text encoding throughput and memory of each backend on the ML-1M catalogue.

Every backend encodes all 3,883 ML-1M movie texts (catalogue including unrated films,
MovieLens template) with the embedding cache off, in its own process so that its peak
memory is its own; then the same texts again through a warm cache.

    .venv/bin/python benchmarks/bench_text.py [--backends minilm,use-multilingual]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time

import psutil

import harness
from driftrec.evaluation import report

#: How this script was called; recorded in every results file it writes.
COMMAND = harness.command()
RESULTS = harness.RESULTS
BACKENDS = ("minilm", "use-multilingual")


def measure_one(backend: str) -> dict:
    """Encode the catalogue with one backend in this process; returns the numbers."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from driftrec.data.movielens import load_movielens
    from driftrec.text.cache import encode_texts
    from driftrec.text.encoders import get_encoder
    from driftrec.text.templates import item_texts
    from driftrec.utils.resources import measure

    texts = item_texts(load_movielens("ml-1m", catalogue="all").items)
    proc = psutil.Process()
    rss0 = proc.memory_info().rss / 2**20
    enc = get_encoder(backend)
    t0 = time.perf_counter()
    enc.encode(texts[:2])  # load the model
    load_s = time.perf_counter() - t0
    with measure() as usage:
        vecs = encode_texts(texts, enc, use_cache=False, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        encode_texts(texts, enc, cache_dir=tmp, progress=False)
        t0 = time.perf_counter()
        encode_texts(texts, enc, cache_dir=tmp, progress=False)
        cached_s = time.perf_counter() - t0
    return {"backend": backend, "texts": len(texts), "dim": int(vecs.shape[1]),
            "load_s": load_s, "encode_s": usage.seconds,
            "texts_per_s": len(texts) / usage.seconds, "cached_s": cached_s,
            "peak_rss_mb": usage.peak_rss_mb, "model_rss_mb": usage.peak_rss_mb - rss0,
            "threads": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one)))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rows = []
    for backend in args.backends.split(","):
        logging.info("encoding the ML-1M catalogue with %s", backend)
        out = subprocess.run([sys.executable, __file__, "--one", backend], check=True,
                             capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    columns = ["backend", "texts", "dim", "load_s", "encode_s", "texts_per_s", "cached_s",
               "peak_rss_mb", "model_rss_mb"]
    title = "Text encoding on the ML-1M catalogue (cache off, then warm cache)"
    report.print_table(rows, columns, title)
    report.write_results(rows, columns, RESULTS, "text-encoding-ml-1m", title=title,
                         protocol={"dataset": "ml-1m", "catalogue": "all movies",
                                   "template": "{title} ({year}). Genres: {genres}",
                                   "device": "cpu",
                                   "command": COMMAND})


if __name__ == "__main__":
    main()
