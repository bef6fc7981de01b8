"""Catalogue encoding on Ray gives what the one-process path gives, row for row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from driftrec.cli import app
from driftrec.data.readers import load_dataset
from driftrec.data.synthetic import SynthConfig, generate
from driftrec.recommend.encoding import HashingEncoder
from driftrec.text.cache import EmbeddingCache
from driftrec.text.catalogue import embed_items

pytest.importorskip("ray")  # local_ray (tests/conftest.py) needs it
pytestmark = pytest.mark.slow  # starting Ray and its actors takes 10-60 s


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ray") / "synth"
    generate(out, SynthConfig(users=100, items=300, events=1_000, seed=4))
    return out


def test_ray_encoding_is_identical_to_local(local_ray, catalogue: Path, tmp_path: Path
                                             ) -> None:
    from driftrec.text.distributed import RayEncoder

    dataset, _ = load_dataset(catalogue / "events.parquet", catalogue / "items.parquet")
    local = embed_items(dataset, HashingEncoder(), cache_dir=tmp_path / "a", progress=False)
    encoder = RayEncoder("hashing", address="auto", workers=2, batch_size=64)
    on_ray = embed_items(dataset, encoder, cache_dir=tmp_path / "b", progress=False)
    assert on_ray.shape == (300, 512)
    np.testing.assert_array_equal(on_ray, local)
    # the cache is the encoder's own: a later local run finds every vector
    assert len(EmbeddingCache("hashing", tmp_path / "b")) == 300


def test_cli_embed_on_ray(local_ray, catalogue: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "interest", "embed", str(catalogue / "events.parquet"), "--items",
        str(catalogue / "items.parquet"), "--encoder", "hashing", "--ray", "auto",
        "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "300 items embedded with hashing on Ray" in result.output
    assert len(EmbeddingCache("hashing", tmp_path / "cache")) == 300
