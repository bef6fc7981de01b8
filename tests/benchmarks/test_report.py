"""benchmarks/report.py: the results page covers every results file, deterministically."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RESULTS = BENCHMARKS / "results"


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("benchmarks_report", BENCHMARKS / "report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def results_files() -> list[Path]:
    return sorted(RESULTS.rglob("*.json"))


def test_every_results_file_has_a_section(report, tmp_path: Path) -> None:
    out = tmp_path / "README.md"
    report.main(["--results", str(RESULTS), "--out", str(out)])
    page = out.read_text(encoding="utf-8")
    files = results_files()
    assert files
    for path in files:
        stem = path.relative_to(RESULTS).with_suffix("").as_posix()
        assert f"]({stem}.json)" in page, stem
        assert f"(`{stem}`)\n" in page, stem
    assert page.count("\n### ") == len(files)
    assert "## Other" not in page  # every file has a topic
    assert "Command: not recorded." not in page


def test_output_is_deterministic(report, tmp_path: Path) -> None:
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    report.main(["--out", str(first)])
    report.main(["--out", str(second)])
    assert first.read_bytes() == second.read_bytes()


def test_committed_page_is_current(report) -> None:
    committed = (RESULTS / report.PAGE).read_text(encoding="utf-8")
    assert committed == report.build(RESULTS), "run `make results` and commit the page"


def test_shapes(report, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    rows = [{"model": "pop", "HR@10": 0.12345, "Recall@10": 0.5, "users": 943.0,
             "weights": {"a": 1.0}}]
    (tmp_path / "baselines-x.json").write_text(json.dumps(
        {"title": "T", "protocol": {"dataset": "x", "command": "benchmarks/bench_x.py --k 1",
                                    "nested": {"lr": 0.002}}, "rows": rows}))
    (tmp_path / "run" / "loo.json").write_text(json.dumps(
        {"title": "U", "protocol": {}, "rows": [{"step": "a|b", "answers": {"200": 3}}]}))
    page = report.build(tmp_path)
    assert "## Baselines" in page and "## Other" in page
    assert ".venv/bin/python benchmarks/bench_x.py --k 1" in page
    assert "- nested.lr: 0.002" in page
    assert "| model | HR@10 | users |" in page and "| pop | 0.1235 | 943.0 |" in page
    assert "`Recall@10`, `weights`" in page  # left to the JSON file
    assert "| a\\|b | 200: 3 |" in page  # no metrics: every column shown
    assert "Command: not recorded." in page
