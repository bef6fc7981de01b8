"""Full-ranking evaluation of any :class:`Recommender` on a :class:`Split`.

Every item in the catalogue is ranked; items already in the user's history are excluded
by default (a target item is never excluded, even when the user saw it before). Users are
scored in batches, so 6,040 users x 3,706 items takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from rich.progress import track

from driftrec.data.dataset import Histories
from driftrec.data.schema import ITEM_IDX, USER_IDX
from driftrec.data.splits import Split
from driftrec.evaluation import metrics as m
from driftrec.models.base import Recommender

DEFAULT_KS = (10, 20, 50)


@dataclass
class EvaluationResult:
    """Mean metrics plus the per-user values they came from (for subgroup analysis)."""

    metrics: dict[str, float]
    per_user: pd.DataFrame
    lists: np.ndarray = field(repr=False)


#: Most scores one batch holds (users x items): 128 MB of float32 whatever the catalogue.
SCORE_CELLS = 2**25


def _target_matrix(targets: pd.DataFrame, users: np.ndarray, n_items: int) -> sp.csr_matrix:
    row_of = {int(u): r for r, u in enumerate(users)}
    rows = np.fromiter((row_of[int(u)] for u in targets[USER_IDX]), dtype=np.int64,
                       count=len(targets))
    data = np.ones(len(rows), dtype=bool)
    mat = sp.csr_matrix((data, (rows, targets[ITEM_IDX].to_numpy())),
                        shape=(len(users), n_items))
    mat.sum_duplicates()
    return mat


def _hits(target_mat: sp.csr_matrix, lists: np.ndarray) -> np.ndarray:
    """``hits[u, j]``: is ``lists[u, j]`` one of user row ``u``'s targets (-1 never is).

    Looked up as ``row * (n_items + 1) + item`` keys: a dense users x items matrix would
    be 4 GB for 200,000 users and 20,000 items.
    """
    width = target_mat.shape[1] + 1
    rows = np.repeat(np.arange(target_mat.shape[0], dtype=np.int64), np.diff(target_mat.indptr))
    keys = (np.arange(len(lists), dtype=np.int64)[:, None] * width
            + np.where(lists < 0, width - 1, lists))
    return np.isin(keys, rows * width + target_mat.indices)


def evaluate_detailed(
    model: Recommender,
    split: Split,
    *,
    stage: str = "test",
    ks: tuple[int, ...] = DEFAULT_KS,
    exclude_seen: bool = True,
    targets: pd.DataFrame | None = None,
    item_vectors: np.ndarray | None = None,
    batch_size: int = 512,
    progress: bool = False,
) -> EvaluationResult:
    """Score every user with targets in ``stage`` and compute all metrics at each K.

    ``targets`` narrows evaluation to some target events (e.g. only cold items).
    """
    targets = split.targets(stage) if targets is None else targets
    users = np.unique(targets[USER_IDX].to_numpy())
    n_items = split.train.n_items
    histories = split.histories(stage, users)
    target_mat = _target_matrix(targets, users, n_items)
    max_k = max(ks)
    lists = np.empty((len(users), min(max_k, n_items)), dtype=np.int64)
    batch_size = max(1, min(batch_size, SCORE_CELLS // max(n_items, 1)))
    starts = range(0, len(users), batch_size)
    if progress:
        starts = track(starts, description=f"scoring {len(users):,} users", transient=True)
    for start in starts:
        rows = slice(start, start + batch_size)
        batch: Histories = histories.subset(rows)
        scores = np.asarray(model.score(batch), dtype=np.float32).copy()
        if scores.shape != (len(batch), n_items):
            raise ValueError(f"{type(model).__name__}.score returned shape {scores.shape}, "
                             f"expected {(len(batch), n_items)}")
        scores[~np.isfinite(scores)] = -np.inf
        if exclude_seen:
            seen = batch.to_csr(n_items)
            seen = seen - seen.multiply(target_mat[rows])  # never exclude a target
            r, c = seen.nonzero()
            scores[r, c] = -np.inf
        lists[rows] = m.top_k(scores, max_k)
    return evaluate_lists(lists, split, stage=stage, ks=ks, targets=targets,
                          item_vectors=item_vectors)


def evaluate_lists(
    lists: np.ndarray,
    split: Split,
    *,
    stage: str = "test",
    ks: tuple[int, ...] = DEFAULT_KS,
    targets: pd.DataFrame | None = None,
    item_vectors: np.ndarray | None = None,
) -> EvaluationResult:
    """All metrics of ranked lists made elsewhere (e.g. by the serving pipeline).

    ``lists`` has one row per user with targets, in ascending user index order, holding
    item indices best first (-1 pads a list shorter than the largest K).
    """
    targets = split.targets(stage) if targets is None else targets
    users = np.unique(targets[USER_IDX].to_numpy())
    n_items = split.train.n_items
    if len(lists) != len(users):
        raise ValueError(f"{len(lists)} lists for {len(users)} users with targets")
    target_mat = _target_matrix(targets, users, n_items)
    n_targets = np.diff(target_mat.indptr)
    hits = _hits(target_mat, lists)

    per_user = pd.DataFrame({USER_IDX: users, "n_targets": n_targets})
    result: dict[str, float] = {}
    counts = np.asarray(split.train.interactions().sum(axis=0)).ravel()
    for k in ks:
        for name, values in m.rank_metrics(hits, n_targets, k).items():
            per_user[f"{name}@{k}"] = values
            result[f"{name}@{k}"] = float(values.mean())
        result[f"Coverage@{k}"] = m.coverage(lists[:, :k], n_items)
        result[f"Novelty@{k}"] = float(m.novelty(lists[:, :k], counts,
                                                 split.train.n_users).mean())
        if item_vectors is not None:
            result[f"ILD@{k}"] = float(m.intra_list_diversity(lists[:, :k], item_vectors).mean())
    result["users"] = float(len(users))
    return EvaluationResult(metrics=result, per_user=per_user, lists=lists)


def evaluate_model(model: Recommender, split: Split, *, stage: str = "test",
                   ks: tuple[int, ...] = DEFAULT_KS, **kwargs) -> dict[str, float]:
    """Mean metrics only; see :func:`evaluate_detailed` for the arguments."""
    return evaluate_detailed(model, split, stage=stage, ks=ks, **kwargs).metrics
