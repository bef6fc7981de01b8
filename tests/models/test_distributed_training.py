"""Training across processes: ``torchrun`` with two gloo processes on loopback trains the
same network as one process with two batch-shard threads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

TINY_CONFIG = """[model]
hidden = 16
n_layers = 1
n_heads = 2
max_len = 12
batch_size = 7
dropout = 0.2
lr = 0.01
threads = 2
valid_users = 10
eval_every = 1
max_epochs = 4
warmup_steps = 1
"""


def walk_events(path: Path, n_users: int = 60, n_items: int = 30) -> None:
    """Users walk the catalogue in steps of one from a random start."""
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{(start + t) % n_items}", t)
            for u, start in enumerate(rng.integers(n_items, size=n_users)) for t in range(16)]
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(path, index=False)


def train(tmp_path: Path, out: str, processes: int) -> dict:
    """``driftrec train`` in one process, or under torchrun with ``processes`` processes."""
    args = ["train", "--events", str(tmp_path / "events.csv"), "--model", "sasrec",
            "--config", str(tmp_path / "tiny.toml"), "--out", str(tmp_path / out)]
    launcher = [sys.executable, "-m", "driftrec"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    f"--nproc-per-node={processes}", "-m", "driftrec"]
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(launcher + args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(tmp_path / out / "sequence.pt", weights_only=True)


@pytest.mark.parametrize("batch_size", [7, 1], ids=["shards", "fewer-sequences-than-processes"])
def test_two_gloo_processes_follow_the_loss_curve_of_two_shard_threads(tmp_path, batch_size):
    walk_events(tmp_path / "events.csv")
    (tmp_path / "tiny.toml").write_text(
        TINY_CONFIG.replace("batch_size = 7", f"batch_size = {batch_size}"))
    single = train(tmp_path, "one-process", processes=1)
    spread = train(tmp_path, "two-processes", processes=2)

    curve = [e["loss"] for e in single["report"]["history"]]
    assert curve == pytest.approx([e["loss"] for e in spread["report"]["history"]], rel=1e-5)
    assert curve[-1] < curve[0]
    valid = [e["valid_ndcg10"] for e in single["report"]["history"]]
    assert valid == pytest.approx([e["valid_ndcg10"] for e in spread["report"]["history"]],
                                  abs=1e-6)
    assert single["report"]["best_epoch"] == spread["report"]["best_epoch"]
    for name, weights in single["state_dict"].items():
        torch.testing.assert_close(spread["state_dict"][name], weights, rtol=1e-4, atol=1e-5)
    assert '"processes": 2' in (tmp_path / "two-processes" / "bundle.json").read_text()
