"""Full-ranking evaluation: seen-item exclusion, the target rule, and speed on real data."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from driftrec.data.dataset import Dataset, Histories
from driftrec.data.splits import leave_one_out
from driftrec.evaluation.evaluate import _hits, evaluate_detailed, evaluate_model
from driftrec.models.base import Recommender


class FixedScores(Recommender):
    """Scores every user with the same vector: makes rank arithmetic easy to check."""

    name = "fixed"

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.scores = np.asarray(scores, dtype=np.float32)

    def fit(self, dataset: Dataset) -> FixedScores:
        self.item_ids = dataset.item_ids
        return self

    def score(self, histories: Histories) -> np.ndarray:
        return np.tile(self.scores, (len(histories), 1))


def test_seen_items_are_excluded_but_never_the_target(tiny: Dataset) -> None:
    split = leave_one_out(tiny)
    # Items a..f; 'a' scores highest but every user's history contains it or ...
    model = FixedScores([6, 5, 4, 3, 2, 1]).fit(split.train)
    result = evaluate_detailed(model, split, ks=(1, 2))
    lists = dict(zip(result.per_user["user_idx"], result.lists.tolist(), strict=True))
    u1 = int(tiny.user_index(["u1"])[0])  # history a, b, c; target d
    assert tiny.item_ids[lists[u1][0]] == "d"
    # With seen items included, u1's top item is 'a'.
    incl = evaluate_detailed(model, split, ks=(1,), exclude_seen=False)
    assert tiny.item_ids[incl.lists[list(incl.per_user["user_idx"]).index(u1)][0]] == "a"


def test_target_seen_before_is_still_ranked(tiny: Dataset) -> None:
    split = leave_one_out(tiny)
    # Make u2's target ('e') also appear in u2's history: it must stay rankable.
    extra = split.train.events.iloc[:1].copy()
    u2 = int(tiny.user_index(["u2"])[0])
    extra[["user_id", "user_idx", "item_id", "item_idx"]] = ["u2", u2, "e", 4]
    split.train = split.train.with_events(
        __import__("pandas").concat([split.train.events, extra], ignore_index=True))
    model = FixedScores([0, 0, 0, 0, 9, 0]).fit(split.train)
    result = evaluate_detailed(model, split, ks=(1,))
    row = list(result.per_user["user_idx"]).index(u2)
    assert result.per_user["HR@1"].iloc[row] == 1.0


def test_baseline_scores_on_ml100k_are_sane(ml100k: Dataset) -> None:
    from driftrec.models.popularity import Popularity

    split = leave_one_out(ml100k)
    out = evaluate_model(Popularity().fit(split.train), split, ks=(10,))
    assert out["users"] == 943
    assert 0.0 < out["HR@10"] < 0.2
    assert out["NDCG@10"] <= out["HR@10"]


def test_hits_are_found_without_a_dense_users_by_items_matrix() -> None:
    """The lookup behind every metric gives what indexing a dense target matrix gives,
    with -1 (a list shorter than K) never a hit, on lists of any shape."""
    rng = np.random.default_rng(0)
    for trial in range(100):
        n_users, n_items = int(rng.integers(1, 30)), int(rng.integers(1, 40))
        targets = sp.random(n_users, n_items, density=rng.random() * 0.3, format="csr",
                            random_state=trial).astype(bool)
        lists = rng.integers(-1, n_items, size=(n_users, int(rng.integers(1, n_items + 2))))
        dense = np.hstack([targets.toarray(), np.zeros((n_users, 1), dtype=bool)])
        expected = np.take_along_axis(dense, np.where(lists < 0, n_items, lists), axis=1)
        assert np.array_equal(_hits(targets, lists), expected)
