"""Dashboard page load times on a store with MovieLens-1M imported.

1. trains ``--model`` (item-kNN by default, seconds) on ML-1M unless ``--model-dir`` is
   given, and imports all 1,000,209 ratings into a fresh SQLite store (or ``--db``) with
   ``driftrec.service.importer.import_events`` (``--encoder``, ``hashing`` by default: the
   figures are about the dashboard, not about a language model); a ``--db`` that already
   holds events is used as it is;
2. starts ``driftrec serve`` on loopback with read and admin keys, rebuilds the segments;
3. loads pages over HTTP as a logged-in browser would (cookie), timing each full answer:
   the overview (the first load after start, then ``--repeat`` more), user pages (the
   user with the most events, a median one, the one with the fewest, each loaded first
   and then again, and ``--users`` random users loaded once each: the replay of their
   history is not cached yet), the segments, an item page and a search;
4. with Chromium at ``/usr/bin/chromium``, also times the overview and the heaviest
   user's page in the browser, from navigation to every chart drawn, and with
   ``--screenshots DIR`` saves a screenshot of each page there.

Writes ``benchmarks/results/dashboard-ml-1m.{json,md}``.

    .venv/bin/python benchmarks/bench_dashboard.py [--screenshots docs/screenshots]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pandas as pd

import harness
from driftrec.config import load_settings
from driftrec.data import movielens
from driftrec.evaluation import report
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.service.core import ServiceCore
from driftrec.service.importer import import_events
from driftrec.service.process import ServeProcess

#: How this script was called; recorded in every results file it writes.
COMMAND = harness.command()
RESULTS = harness.RESULTS
SECRET = "benchmark-secret"
READ_KEY, ADMIN_KEY = "bench-read-key", "bench-admin-key"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
log = logging.getLogger("bench_dashboard")


def prepare(args: argparse.Namespace, tmp: Path) -> tuple[str, Path, dict]:
    """The database URL and model directory to serve, with what it took to make them."""
    info: dict = {}
    model_dir = args.model_dir
    if model_dir is None:
        t0 = time.perf_counter()
        dataset = movielens.load_movielens(args.dataset)
        model_dir = save_bundle(create_model(args.model).fit(dataset), dataset,
                                tmp / args.model)
        info["train_s"] = round(time.perf_counter() - t0, 1)
    url = args.db or f"sqlite:///{tmp / 'dashboard.db'}"
    settings = load_settings(database_url=url, encoder=args.encoder, model_dir=model_dir,
                             id_secret=SECRET)
    core = ServiceCore(settings)
    try:
        if core.store.count_events() == 0:
            t0 = time.perf_counter()
            summary = import_events(core, args.dataset)
            info["import_s"] = round(time.perf_counter() - t0, 1)
            log.info("imported %d events of %d users", summary.events, summary.users)
        info["events"] = core.store.count_events()
    finally:
        core.close()
    return url, Path(model_dir), info


def timed(client: httpx.Client, path: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - t0
    response.raise_for_status()
    return elapsed * 1000, len(response.content)


def row(page: str, what: str, first: float | None, times: list[float],
        size: int | None = None) -> dict:
    times = sorted(times)
    out = {"page": page, "what": what, "loads": len(times) + (first is not None)}
    if first is not None:
        out["first_ms"] = round(first)
    if times:
        out["median_ms"] = round(statistics.median(times))
        out["max_ms"] = round(times[-1])
    if size is not None:
        out["kb"] = round(size / 1024)
    return out


def measure_http(url: str, users: pd.Series, args: argparse.Namespace) -> list[dict]:
    rows = []
    with httpx.Client(base_url=url, timeout=120) as client:
        login = client.post("/dashboard/login", data={"api_key": READ_KEY})
        assert login.status_code == 303 and login.headers["location"] == "/dashboard", login
        first, size = timed(client, "/dashboard")
        again = [timed(client, "/dashboard")[0] for _ in range(args.repeat)]
        rows.append(row("overview", "first load after start, then again", first, again, size))
        by_size = users.sort_values(kind="stable")
        for label, uid in (("most events", by_size.index[-1]),
                           ("median events", by_size.index[len(by_size) // 2]),
                           ("fewest events", by_size.index[0])):
            path = f"/dashboard/users/{quote(str(uid), safe='')}"
            first, size = timed(client, path)
            again = [timed(client, path)[0] for _ in range(args.repeat)]
            rows.append(row("user", f"{label} ({users[uid]:,}), first view, then again",
                            first, again, size))
        sample = random.Random(args.seed).sample(sorted(users.index, key=str), args.users)
        loads = [timed(client, f"/dashboard/users/{quote(str(u), safe='')}") for u in sample]
        rows.append(row("user", f"{args.users} random users, first view each", None,
                        [t for t, _ in loads], max(s for _, s in loads)))
        diverse = [timed(client, f"/dashboard/users/{quote(str(u), safe='')}?diversity=0.5")[0]
                   for u in sample[:5]]
        rows.append(row("user", "diversity 0.5 (5 of those users again)", None, diverse))
        for page, path in (("segments", "/dashboard/segments"),
                           ("item", f"/dashboard/items/{args.item}"),
                           ("search", "/dashboard/search?q=star+wars")):
            first, size = timed(client, path)
            again = [timed(client, path)[0] for _ in range(args.repeat)]
            rows.append(row(page, "first load, then again", first, again, size))
    return rows


def measure_browser(url: str, heavy_user: str, args: argparse.Namespace) -> list[dict]:
    """Navigation to every chart drawn, in Chromium (plotly.js from the browser's cache
    after the first page); screenshots when asked."""
    from playwright.sync_api import sync_playwright

    rows = []
    shots = Path(args.screenshots) if args.screenshots else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=url, viewport={"width": 1000, "height": 1250})
        page.goto("/dashboard/login")
        page.fill("input[name=api_key]", ADMIN_KEY)
        page.click("text=Open dashboard")
        page.wait_for_selector("body[data-charts-ready]", timeout=60_000)
        user_path = f"/dashboard/users/{quote(heavy_user, safe='')}"
        for name, path in (("overview", "/dashboard"), ("user", user_path)):
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                page.goto(path)
                page.wait_for_selector("body[data-charts-ready]", timeout=60_000)
                times.append((time.perf_counter() - t0) * 1000)
            rows.append(row(name, "in Chromium: navigation to all charts drawn", None, times))
        if shots is not None:
            for name, path in (("overview", "/dashboard"), ("user", user_path),
                               ("segments", "/dashboard/segments"),
                               ("item", f"/dashboard/items/{args.item}"),
                               ("search", "/dashboard/search?q=star+wars")):
                page.goto(path)
                if page.locator("[data-figure]").count():
                    page.wait_for_selector("body[data-charts-ready]", timeout=60_000)
                page.screenshot(path=str(shots / f"dashboard-{name}.png"))
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-1m", choices=["ml-1m"])
    parser.add_argument("--encoder", default="hashing")
    parser.add_argument("--model", default="itemknn")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite "
                        "file in a temporary folder); one that holds events is not re-imported")
    parser.add_argument("--users", type=int, default=20, help="random users loaded once")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--item", default="2571", help="item page to load (The Matrix)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--screenshots", default=None, help="folder for page screenshots")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not movielens.is_fetched(args.dataset):
        movielens.fetch(args.dataset)
    ratings = movielens.read_ml1m(movielens.dataset_dir(args.dataset))[0]
    users = ratings.groupby(ratings["user_id"].astype(str)).size()

    with tempfile.TemporaryDirectory() as tmp:
        url, model_dir, info = prepare(args, Path(tmp))
        env = {"DRIFTREC_ID_SECRET": SECRET, "DRIFTREC_API_KEYS_READ": READ_KEY,
               "DRIFTREC_API_KEYS_ADMIN": ADMIN_KEY}
        with ServeProcess(url, model_dir, Path(tmp) / "server.log", encoder=args.encoder,
                          env=env, ready_timeout=300) as server:
            t0 = time.perf_counter()
            httpx.post(f"{server.url}/v1/admin/segments/rebuild", timeout=600,
                       headers={"X-API-Key": ADMIN_KEY}).raise_for_status()
            info["segments_s"] = round(time.perf_counter() - t0, 1)
            rows = measure_http(server.url, users, args)
            if CHROMIUM.exists() and not args.no_browser:
                rows += measure_browser(server.url, str(users.idxmax()), args)

    columns = ["page", "what", "loads", "first_ms", "median_ms", "max_ms", "kb"]
    title = f"Dashboard page load times, {args.dataset.upper()} imported"
    report.print_table(rows, columns, title)
    report.write_results(rows, columns, RESULTS, f"dashboard-{args.dataset}", title=title,
                         protocol={
                             "dataset": args.dataset, "encoder": args.encoder,
                             "model": model_dir.name if args.model_dir else args.model,
                             "database": "SQLite" if args.db is None else url.split(":")[0],
                             "http": "loopback, one client, cookie login",
                             **info, "load_average_1m": round(os.getloadavg()[0], 1),
                             "command": COMMAND})


if __name__ == "__main__":
    main()
