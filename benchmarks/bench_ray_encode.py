"""Catalogue encoding throughput: one process against Ray Data with local encoder actors.

The texts are a synthetic catalogue's item texts (``driftrec.data.synthetic``, default
template). One process encodes them with MiniLM on every core (torch's default threads);
Ray runs ``--workers`` actors of one thread each on a local Ray started with that many
CPUs (``driftrec.text.distributed.RayEncoder``, as ``driftrec interest embed --ray``).
Times are wall clock: "with load" includes loading the model (in every actor, for Ray:
Ray Data starts its actors per run), Ray's own start-up is reported apart. The vectors of
both paths are compared.

    .venv/bin/python benchmarks/bench_ray_encode.py [--texts 2000] [--workers 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import numpy as np

import harness

log = logging.getLogger("bench_ray_encode")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--batch-size", type=int, default=256)
    harness.add_common_args(parser, tag="suffix of the results files", out=True)
    args = parser.parse_args()
    harness.setup_logging()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from driftrec.data.synthetic import SynthConfig, make_catalogue
    from driftrec.recommend.encoding import load_encoder
    from driftrec.text.cache import encode_texts
    from driftrec.text.distributed import RayEncoder
    from driftrec.text.templates import item_texts
    from driftrec.utils.ray_cluster import connect

    config = SynthConfig(users=1, items=args.texts, events=1, seed=0)
    texts = item_texts(make_catalogue(config, np.random.default_rng(0)).table)

    t0 = time.perf_counter()
    local = load_encoder(args.encoder)
    local.encode(texts[:2])
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    expected = encode_texts(texts, local, use_cache=False, progress=False)
    local_s = time.perf_counter() - t0
    log.info("one process: %.1f s (+%.1f s load)", local_s, load_s)

    t0 = time.perf_counter()
    connect("local", workers=args.workers, _node_ip_address="127.0.0.1")
    ray_start_s = time.perf_counter() - t0
    ray_encoder = RayEncoder(args.encoder, address="local", workers=args.workers,
                             batch_size=args.batch_size)
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        got = encode_texts(texts, ray_encoder, use_cache=False, progress=False,
                           batch_size=ray_encoder.call_size)
        runs.append(time.perf_counter() - t0)
        log.info("ray: %.1f s", runs[-1])
    diff = float(np.abs(got - expected).max())
    n = len(texts)
    rows = [
        {"path": f"one process, {torch.get_num_threads()} torch threads",
         "texts": n, "seconds": local_s, "texts_per_s": n / local_s,
         "with_load_s": local_s + load_s, "texts_per_s_with_load": n / (local_s + load_s),
         "max_abs_diff": 0.0},
        {"path": f"Ray Data, {args.workers} actors x 1 thread (best of 2 runs)",
         "texts": n, "seconds": min(runs), "texts_per_s": n / min(runs),
         "with_load_s": min(runs), "texts_per_s_with_load": n / min(runs),
         "max_abs_diff": diff},
    ]
    import ray

    harness.write_results(
        rows, ["path", "texts", "seconds", "texts_per_s", "with_load_s",
               "texts_per_s_with_load", "max_abs_diff"],
        f"ray-encode-{args.encoder}" + (f"-{args.tag}" if args.tag else ""), out=args.out,
        title=f"Catalogue encoding with {args.encoder}: one process vs Ray Data actors",
        protocol={"texts": n, "encoder": args.encoder, "workers": args.workers,
                  "batch_size": args.batch_size, "ray": ray.__version__,
                  "ray_start_s": round(ray_start_s, 1), "ray_runs_s": [round(r, 1) for r in
                                                                      runs],
                  "cpus": os.cpu_count(), "load_average_1m_at_end": os.getloadavg()[0],
                  "note": "Ray times include each actor loading the model; its start-up "
                          "(ray_start_s) is not included"})
    ray.shutdown()


if __name__ == "__main__":
    main()
