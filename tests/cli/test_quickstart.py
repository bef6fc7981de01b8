"""``driftrec quickstart`` (what ``make run`` calls) on MovieLens-100K: it trains within
its budget, prints the evaluation table, imports the events and serves; a second run
reuses every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from driftrec.data.dataset import Dataset
from driftrec.service.process import free_port, wait_ready

QUICKSTART = [sys.executable, "-c", "from driftrec.cli import app; app()", "quickstart",
              "--dataset", "ml-100k", "--budget", "10s"]

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}


def _serve_until_ready(workdir: Path, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([*QUICKSTART, "--workdir", str(workdir), "--port", str(port)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env=ENV)
    problem = wait_ready(proc, f"http://127.0.0.1:{port}", 600, interval=0.5)
    if problem is None:
        return proc
    proc.kill()
    raise AssertionError(f"quickstart {problem}:\n{log.read_text()}")


def test_quickstart_trains_evaluates_imports_and_serves(tmp_path: Path, ml100k: Dataset) -> None:
    port = free_port()
    first_log = tmp_path / "first.log"
    proc = _serve_until_ready(tmp_path / "work", port, first_log)
    try:
        user = str(ml100k.user_ids[0])
        recs = httpx.get(f"http://127.0.0.1:{port}/v1/users/{user}/recommendations",
                         params={"k": 5}, timeout=30)
        assert recs.status_code == 200 and len(recs.json()["items"]) == 5
        assert httpx.get(f"http://127.0.0.1:{port}/dashboard", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out = first_log.read_text()
    assert "training the default model" in out and "serving: open" in out
    results = json.loads((tmp_path / "work/ml-100k/results/ml-100k-loo.json").read_text())
    assert [r["model"] for r in results["rows"]] == ["pop", "itemknn", "ease", "default"]
    assert all(0 <= r["HR@10"] <= 1 for r in results["rows"])
    bundle = json.loads((tmp_path / "work/ml-100k/model/bundle.json").read_text())
    assert bundle["budget_min"] == 10 / 60

    # The second run trains, evaluates and imports nothing again, and prints the same table.
    again = subprocess.run([*QUICKSTART, "--workdir", str(tmp_path / "work"), "--no-serve"],
                           capture_output=True, text=True, timeout=300,
                           env=ENV)
    assert again.returncode == 0, again.stderr
    printed = again.stdout + again.stderr
    assert "training" not in printed and "importing" not in printed
    assert "default" in printed and "HR@10" in printed
