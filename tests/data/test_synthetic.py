"""The synthetic data generator: reproducible, long-tailed, drifting, and learnable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from driftrec.cli import app
from driftrec.data.readers import load_dataset
from driftrec.data.synthetic import SynthConfig, generate, iter_blocks, top_share
from driftrec.evaluation.runner import run


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "small"
    generate(out, SynthConfig(users=2_000, items=500, events=50_000, seed=3))
    return out


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    config = {"users": 300, "items": 120, "events": 6_000, "chunk_events": 2_000}
    generate(tmp_path / "a", SynthConfig(seed=5, **config))
    generate(tmp_path / "b", SynthConfig(seed=5, **config))
    generate(tmp_path / "c", SynthConfig(seed=6, **config))
    for name in ("events.parquet", "items.parquet", "synth.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "events.parquet").read_bytes() != \
        (tmp_path / "c" / "events.parquet").read_bytes()
    # written in several blocks, still one file with every event
    assert len(pd.read_parquet(tmp_path / "a" / "events.parquet")) == 6_000


def test_files_read_back_with_every_user_and_a_long_tail(small: Path) -> None:
    dataset, report = load_dataset(small / "events.parquet", small / "items.parquet")
    assert report.rows_out == 50_000 and not report.dropped
    assert dataset.n_users == 2_000 and dataset.n_items == 500
    events = dataset.events
    assert set(events["event_type"]) == {"view", "click", "purchase"}
    assert (events["event_type"] == "view").mean() > (events["event_type"] == "click").mean() \
        > (events["event_type"] == "purchase").mean()
    counts = events["item_id"].value_counts().reindex(dataset.item_ids, fill_value=0)
    # long tail: the top 10 % of items hold far more than 10 % of the events
    assert top_share(counts.to_numpy(), 0.10) > 0.4
    per_user = events.groupby("user_id").size()
    assert per_user.min() >= 3 and per_user.max() > 10 * per_user.median()
    items = pd.read_parquet(small / "items.parquet")
    assert items["title"].str.len().min() > 0 and items["description"].str.len().min() > 20


def _topic_shift(drift: float) -> float:
    """Mean total-variation distance between a user's topic mix in the first and the last
    third of their events (users with at least 60 events)."""
    config = SynthConfig(users=1_500, items=400, events=90_000, seed=1, drift=drift)
    _, blocks = iter_blocks(config)
    block = next(blocks)
    users, topics = block["user"], block["topic"]
    shifts = []
    for u in np.unique(users):
        t = topics[users == u]
        if len(t) < 60:
            continue
        third = len(t) // 3
        a = np.bincount(t[:third], minlength=config.topics) / third
        b = np.bincount(t[-third:], minlength=config.topics) / third
        shifts.append(0.5 * np.abs(a - b).sum())
    return float(np.mean(shifts))


def test_drift_is_measurable() -> None:
    # sessions make even a still user's thirds differ; drift adds to that
    still, drifting = _topic_shift(0.0), _topic_shift(SynthConfig.drift)
    assert drifting > still + 0.03, (still, drifting)
    assert _topic_shift(1.0) > drifting


def test_itemknn_beats_popularity(small: Path) -> None:
    dataset, _ = load_dataset(small / "events.parquet", small / "items.parquet")
    rows = {r["model"]: r for r in run(dataset, "loo", ["pop", "itemknn"], progress=False)}
    assert rows["itemknn"]["NDCG@10"] > 1.5 * rows["pop"]["NDCG@10"]
    assert rows["itemknn"]["HR@10"] > rows["pop"]["HR@10"] + 0.1


def test_cli_synth_writes_files_train_and_embed_read(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "data"
    result = runner.invoke(app, ["data", "synth", "--users", "200", "--items", "80",
                                 "--events", "3000", "--seed", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["train", "--events", str(out / "events.parquet"), "--items",
                                 str(out / "items.parquet"), "--model", "pop", "--out",
                                 str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    # item texts embed (here with the lexical encoder, in this process)
    result = runner.invoke(app, ["interest", "embed", str(out / "events.parquet"), "--items",
                                 str(out / "items.parquet"), "--encoder", "hashing",
                                 "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "80 items embedded with hashing" in result.output
    bad = runner.invoke(app, ["data", "synth", "--users", "200", "--events", "100",
                              "--out", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and "at least users" in bad.output
