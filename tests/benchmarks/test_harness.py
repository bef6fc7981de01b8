"""Benchmark scripts share one harness and the library, never each other's code."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftrec.data.dataset import Dataset
from driftrec.evaluation import replay as rp
from driftrec.evaluation import report
from driftrec.models.registry import create_model

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_benchmark_script_imports_another() -> None:
    scripts = {p.stem for p in BENCHMARKS.glob("*.py")} - {"harness"}
    offenders = {p.name: sorted(imported_modules(p) & scripts)
                 for p in sorted(BENCHMARKS.glob("*.py"))}
    assert {name: found for name, found in offenders.items() if found} == {}
    for path in BENCHMARKS.glob("*.py"):
        text = path.read_text()
        assert "import bench_" not in text and "from bench_" not in text, path.name


@pytest.fixture(scope="module")
def harness():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("harness", BENCHMARKS / "harness.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("harness", None)
        sys.path.remove(str(BENCHMARKS))


def streaming_dataset(n_users: int = 40, length: int = 16, n_items: int = 25) -> Dataset:
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{int(rng.integers(n_items))}", int(rng.integers(0, 10_000)))
            for u in range(n_users) for _ in range(length)]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return Dataset.from_frames(events, pd.DataFrame({"item_id": [f"i{i}"
                                                                for i in range(n_items)]}))


def test_command_names_the_script_and_its_arguments(harness) -> None:
    assert harness.command(["/x/benchmarks/bench_content.py", "--dataset", "ml 1m"]) == (
        "benchmarks/bench_content.py --dataset 'ml 1m'")


def test_streaming_rows_replay_the_library_protocol(harness) -> None:
    dataset = streaming_dataset()
    rows = harness.streaming_rows(dataset, lambda train: {
        "pop": create_model("pop").fit(train),
        "itemknn": create_model("itemknn").fit(train)}, users=15, per_user=5, ks=(5, 10))
    assert [(r["model"], r["state"]) for r in rows] == [
        ("pop", "updated on every event"), ("pop", "frozen at the cut"),
        ("itemknn", "updated on every event"), ("itemknn", "frozen at the cut")]
    # The live rows are driftrec evaluate's streaming numbers.
    train, live, _ = rp.streaming_replay(dataset, users=15, per_user=5)
    model = create_model("itemknn").fit(train)
    expected = rp.rank_summary(rp.replay_ranks(model, live, max_k=10), (5, 10))
    assert all(rows[2][k] == expected[k] for k in ("HR@5", "NDCG@5", "HR@10", "NDCG@10"))
    assert rows[0]["events"] == len(live) and rows[0]["users"] <= 15
    # Popularity ignores the history: frozen and live only differ through exclusions,
    # which are the same for both states.
    assert rows[0]["HR@10"] == rows[1]["HR@10"]


def test_write_results_records_the_command(harness, tmp_path: Path) -> None:
    harness.write_results([{"model": "pop", "HR@10": 0.5}], ["model", "HR@10"], "x",
                          title="t", protocol={"dataset": "d"}, out=tmp_path, show=False)
    meta = json.loads((tmp_path / "x.json").read_text())
    assert meta["protocol"]["dataset"] == "d" and "command" in meta["protocol"]


def test_results_name_the_code_that_made_them(harness, tmp_path: Path) -> None:
    """A results file says which commit of the package produced it (marked ``+dirty``
    when the package differs from it), in the JSON and under the table."""
    head = subprocess.run(["git", "-C", str(Path(report.__file__).parent), "rev-parse",
                           "--short=7", "HEAD"], capture_output=True, text=True)
    if head.returncode:
        pytest.skip("not a git checkout")
    harness.write_results([{"model": "pop"}], ["model"], "x", title="t", protocol={},
                          out=tmp_path, show=False)
    code = json.loads((tmp_path / "x.json").read_text())["code"]
    assert code.removesuffix("+dirty") == head.stdout.strip()
    assert f"by driftrec at {code}._" in (tmp_path / "x.md").read_text()


def test_results_outside_a_checkout_name_no_code(monkeypatch, tmp_path: Path) -> None:
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(report.subprocess, "run", no_git)
    report.write_results([{"model": "pop"}], ["model"], tmp_path, "x", title="t",
                         protocol={})
    assert json.loads((tmp_path / "x.json").read_text())["code"] is None
    assert "by driftrec" not in (tmp_path / "x.md").read_text()
