"""``driftrec quickstart``: the main job, from nothing to a running service.

One command a newcomer can watch to the end: fetch a dataset, train the default model
within a time budget on its leave-one-out training split, evaluate it beside the
baselines on that split's test events and print the table, import every event into the
embedded SQLite store (interest states built as the live path builds them), then serve
the REST API and the dashboard on 127.0.0.1.

Each step keeps its output in ``--workdir`` and is skipped when that output is there and
was made with the same settings, so a second run is serving within seconds. The served
model is the evaluated one: it was trained without each user's last two events, which the
store then holds like any other event.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from driftrec.cli.common import fail, parse_budget

log = logging.getLogger(__name__)

BASELINES = ("pop", "itemknn", "ease")
KS = (10, 20, 50)
STEPS_FILE = "quickstart.json"
#: The language model behind item and query text, for the model and the service alike.
ENCODER = "minilm"


def quickstart(
    dataset: str = typer.Option("ml-1m", help="ml-1m or ml-100k (fetched once)."),
    budget: str = typer.Option("5m", help="Training time budget of the default model, e.g. "
                               "90s, 5m, 1h (see the README's budget table)."),
    workdir: Path = typer.Option(Path("work"), help="Where the model, results and store "
                                 "are kept (and reused by the next run)."),
    port: int = typer.Option(8000, help="TCP port of the service on 127.0.0.1."),
    serve: bool = typer.Option(True, help="Start the service at the end (--no-serve: "
                               "stop after the import)."),
) -> None:
    """Fetch, train, evaluate, import and serve: the main job, resumable."""
    from driftrec.data import movielens

    if dataset not in movielens.DATASETS:
        raise fail(f"--dataset: unknown dataset {dataset!r}; use one of "
                   f"{', '.join(movielens.DATASETS)}")
    minutes = parse_budget(budget, "--budget")
    console = Console(stderr=True)
    home = workdir / dataset
    home.mkdir(parents=True, exist_ok=True)
    done = _read_steps(home)
    encoder = ENCODER
    wanted = {"dataset": dataset, "budget_min": minutes, "encoder": encoder}
    if {k: done.get(k) for k in wanted} != wanted:
        done = dict(wanted)  # different settings: every step runs again
    started = time.perf_counter()

    movielens.fetch(dataset)
    data = movielens.load_movielens(dataset)
    model_dir = home / "model"
    if not done.get("trained") or not (model_dir / "model.json").exists():
        console.rule(f"training the default model ({budget} budget)")
        _train(data, model_dir, minutes, encoder)
        done.update(trained=True, evaluated=False, imported=False)
        _write_steps(home, done)
    results = home / "results"
    if not done.get("evaluated"):
        console.rule("evaluating beside the baselines")
        _evaluate(data, model_dir, results)
        done["evaluated"] = True
        _write_steps(home, done)
    _print_results(results, data.name)
    db_url = f"sqlite:///{(home / 'driftrec.db').resolve()}"
    if not done.get("imported"):
        console.rule(f"importing {len(data.events):,} events into the store")
        _import(dataset, db_url, model_dir, encoder, home)
        done["imported"] = True
        _write_steps(home, done)
    console.print(f"ready in {time.perf_counter() - started:.0f} s")
    if serve:
        _serve(db_url, model_dir, encoder, port, console)


def _read_steps(home: Path) -> dict[str, Any]:
    path = home / STEPS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _write_steps(home: Path, steps: dict[str, Any]) -> None:
    tmp = home / (STEPS_FILE + ".tmp")
    tmp.write_text(json.dumps(steps, indent=2))
    tmp.replace(home / STEPS_FILE)


def _train(data, model_dir: Path, minutes: float, encoder: str) -> None:
    import shutil

    from driftrec.cli.common import budget_options
    from driftrec.data.splits import leave_one_out
    from driftrec.models.bundle import save_bundle
    from driftrec.models.registry import create_model
    from driftrec.utils.resources import measure

    split = leave_one_out(data)
    model = create_model("default", **budget_options("default", {"encoder": encoder}, minutes))
    with measure() as usage:
        model.fit(split.train)
    tmp = model_dir.with_name(model_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_bundle(model, split.train, tmp, fit_seconds=round(usage.seconds, 1),
                split="leave-one-out training events", budget_min=minutes)
    shutil.rmtree(model_dir, ignore_errors=True)
    tmp.rename(model_dir)


def _evaluate(data, model_dir: Path, results: Path) -> None:
    from driftrec.evaluation import report, runner
    from driftrec.models.bundle import BUNDLE_FILE, load_bundle

    model, _ = load_bundle(model_dir)
    meta = json.loads((model_dir / BUNDLE_FILE).read_text())
    rows = runner.run(data, "loo", [*BASELINES, "default"], ks=KS,
                      fitted={"default": (model, float(meta.get("fit_seconds", 0.0)))})
    columns = ["protocol", "model", *report.headline_columns(KS), *report.RESOURCE_COLUMNS]
    report.write_results(rows, columns, results, f"{data.name}-loo",
                         title=_title(data.name),
                         protocol={"dataset": data.name, "protocol": "leave-one-out",
                                   "ks": list(KS), "exclude_seen": True,
                                   "tie_order": "stable", "budget_min": meta.get("budget_min"),
                                   "command": "driftrec quickstart"})


def _title(name: str) -> str:
    return f"{name}, leave-one-out, full ranking, seen items excluded"


def _print_results(results: Path, name: str) -> None:
    from driftrec.evaluation import report

    payload = json.loads((results / f"{name}-loo.json").read_text())
    rows = payload["rows"]
    columns = ["model", *report.headline_columns(KS[:1]), "HR@50", "fit_s"]
    report.print_table(rows, columns, _title(name))


def _import(dataset: str, db_url: str, model_dir: Path, encoder: str, home: Path) -> None:
    from driftrec.cli.imports import run_import
    from driftrec.config import load_settings
    from driftrec.service.core import ServiceCore

    db_file = home / "driftrec.db"
    for path in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")):
        path.unlink(missing_ok=True)  # a half-finished import starts over
    settings = load_settings(database_url=db_url, model_dir=model_dir, encoder=encoder)
    core = ServiceCore(settings)
    try:
        run_import(core, dataset, batch_rows=20_000, skip_existing_users=False)
    finally:
        core.close()


def _serve(db_url: str, model_dir: Path, encoder: str, port: int, console: Console) -> None:
    import uvicorn

    from driftrec.cli.serve import LOOPBACK
    from driftrec.config import load_settings
    from driftrec.service import create_app
    from driftrec.service.app import limit_compute_threads

    settings = load_settings(database_url=db_url, model_dir=model_dir, encoder=encoder,
                             host=LOOPBACK, port=port)
    limit_compute_threads(settings.compute_threads)
    app = create_app(settings)
    console.print(f"serving: open http://{LOOPBACK}:{port}/dashboard (API docs at "
                  f"http://{LOOPBACK}:{port}/docs); Ctrl-C stops")
    uvicorn.run(app, host=LOOPBACK, port=port, log_level="warning", access_log=False)


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)
