"""Ranking metrics over top-K lists, vectorised over users.

Notation for one user: ``L`` is the top-K list (positions ``0..K-1``), ``T`` the set of
held-out target items, ``hit_j = 1`` if ``L[j]`` is in ``T``.

- HR@K (hit rate)      = 1 if any ``hit_j`` else 0
- Recall@K             = sum_j hit_j / |T|
- Precision@K          = sum_j hit_j / K
- F1@K                 = 2 P R / (P + R)   (0 when P + R = 0)
- NDCG@K               = DCG / IDCG, DCG = sum_j hit_j / log2(j + 2),
                         IDCG = sum_{j < min(|T|, K)} 1 / log2(j + 2)
- MRR@K                = 1 / (j* + 1) for the first hit position j*, 0 without a hit

With one target per user (leave-one-out) HR@K = Recall@K and NDCG@K = 1 / log2(rank + 2)
for a target at 0-based rank < K (``ndcg_from_ranks``). Metrics are averaged over users.
List-level measures:

- coverage@K           = |union of all users' lists| / |catalogue|
- intra-list diversity = mean over users of the mean over pairs j != l of 1 - cos(e_Lj, e_Ll)
  (e: L2-normalised item text embeddings)
- novelty@K            = mean over users and positions of -log2 p(L[j]),
  with p(i) = (users who interacted with i in training + 1) / (training users + 1)
"""

from __future__ import annotations

import numpy as np

RANK_METRICS = ("HR", "Recall", "Precision", "F1", "NDCG", "MRR")


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best items per row; ties go to the lower item index.

    The order is that of a stable sort of the negated scores, so lists and metrics are
    deterministic even for models with many ties (popularity). Sorting whole rows costs
    O(items log items) per user (hours for 50,000 users over a million items); instead a
    partition finds each row's k-th best score and only the items at or above it (ties
    included) are sorted, by score and then index.
    """
    k = min(k, scores.shape[1])
    neg = -np.asarray(scores)
    if k == 0 or k * 4 >= neg.shape[1]:
        return np.argsort(neg, axis=1, kind="stable")[:, :k]
    kth = np.partition(neg, k - 1, axis=1)[:, k - 1]
    rows, cols = np.nonzero(neg <= kth[:, None])
    order = np.lexsort((cols, neg[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    counts = np.bincount(rows, minlength=len(neg))
    out = np.empty((len(neg), k), dtype=np.int64)
    full = counts >= k
    starts = np.searchsorted(rows, np.flatnonzero(full))
    out[full] = cols[starts[:, None] + np.arange(k)]
    for r in np.flatnonzero(~full):  # NaN scores left fewer than k comparable items
        out[r] = np.argsort(neg[r], kind="stable")[:k]
    return out


def discount(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(k) + 2.0)


def rank_metrics(hits: np.ndarray, n_targets: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-user metrics from a hit matrix ``hits`` (users x >=k, bool) at cut-off ``k``."""
    hits = hits[:, :k].astype(np.float64)
    n_targets = np.maximum(n_targets.astype(np.float64), 1.0)
    n_hits = hits.sum(axis=1)
    recall = n_hits / n_targets
    precision = n_hits / k
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    disc = discount(k)
    dcg = hits @ disc[: hits.shape[1]]  # lists may be shorter than k (tiny catalogues)
    ideal_len = np.minimum(n_targets, k).astype(np.int64)
    idcg = np.cumsum(disc)[ideal_len - 1]
    first = np.where(hits.any(axis=1), hits.argmax(axis=1), -1)
    mrr = np.where(first >= 0, 1.0 / (np.maximum(first, 0) + 1.0), 0.0)
    return {
        "HR": (n_hits > 0).astype(np.float64),
        "Recall": recall,
        "Precision": precision,
        "F1": f1,
        "NDCG": dcg / idcg,
        "MRR": mrr,
    }


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each row's target item: the number of items scored strictly higher.

    Items scored equal to the target do not count against it (unlike :func:`top_k`, which
    orders ties by item index); on a neural model's float scores the two agree. This is
    the rank behind the sequence model's validation NDCG (early stopping).
    """
    scores = np.asarray(scores)
    target = scores[np.arange(len(scores)), np.asarray(targets, dtype=np.int64)]
    return (scores > target[:, None]).sum(axis=1)


def ndcg_from_ranks(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-row NDCG@K with one relevant item at 0-based rank ``ranks``: ``1 / log2(rank +
    2)`` below ``k``, else 0 (what :func:`rank_metrics` gives for one target)."""
    ranks = np.asarray(ranks)
    return np.where(ranks < k, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)


def coverage(lists: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in any list (-1 pads are not items)."""
    return len(np.unique(lists[lists >= 0])) / n_items if n_items else 0.0


def intra_list_diversity(lists: np.ndarray, item_vectors: np.ndarray) -> np.ndarray:
    """Per-list mean pairwise ``1 - cos`` of item vectors (vectors L2-normalised)."""
    k = lists.shape[1]
    if k < 2:
        return np.zeros(len(lists))
    vecs = item_vectors[lists]  # users x k x d
    sims = np.einsum("ukd,uld->ukl", vecs, vecs)
    off_diagonal = sims.sum(axis=(1, 2)) - np.einsum("ukk->u", sims)
    return 1.0 - off_diagonal / (k * (k - 1))


def novelty(lists: np.ndarray, item_user_counts: np.ndarray, n_users: int) -> np.ndarray:
    """Per-list mean self-information ``-log2 p(i)`` of the recommended items."""
    p = (item_user_counts + 1.0) / (n_users + 1.0)
    info = np.ma.masked_array((-np.log2(p))[np.maximum(lists, 0)], mask=lists < 0)
    return np.asarray(info.mean(axis=1).filled(0.0))
