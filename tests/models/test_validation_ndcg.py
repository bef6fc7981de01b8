"""The sequence model's early stopping scores with ``evaluation/metrics``: the same numbers
as the NDCG@10 it computed on its own before, and the evaluation's NDCG when no scores tie."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from driftrec.evaluation import metrics as m
from driftrec.models.sequence.batching import right_align
from driftrec.models.sequence.config import SequenceConfig
from driftrec.models.sequence.network import build_network
from driftrec.models.sequence.training import Holdout, holdout_ndcg

N_ITEMS = 40
MAX_LEN = 8


def former_holdout_ndcg(net, holdout: Holdout, max_len: int, batch_size: int = 256) -> float:
    """The validation NDCG@10 training used before it called ``evaluation/metrics``."""
    net.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(holdout.targets), batch_size):
            inputs = holdout.inputs[start : start + batch_size]
            targets = torch.from_numpy(holdout.targets[start : start + batch_size])
            scores = net.score_last(right_align(inputs, max_len)).float()
            for row, seq in enumerate(inputs):
                scores[row, torch.from_numpy(np.asarray(seq, dtype=np.int64))] = -math.inf
            rank = (scores > scores.gather(1, targets[:, None])).sum(1)
            gain = torch.where(rank < 10, 1.0 / torch.log2(rank.float() + 2.0),
                               torch.zeros(()))
            total += float(gain.sum())
    return total / max(1, len(holdout.targets))


def small_net(seed: int, members: int = 1):
    torch.manual_seed(seed)
    cfg = SequenceConfig(hidden=16, n_layers=1, n_heads=2, max_len=MAX_LEN, use_text=False,
                         members=members)
    return build_network(cfg, N_ITEMS)


def random_holdout(n: int, seed: int) -> Holdout:
    rng = np.random.default_rng(seed)
    inputs = [rng.choice(N_ITEMS, size=int(rng.integers(1, 12)), replace=False)
              for _ in range(n)]
    # Targets mostly unseen, some inside their own input (excluded: no gain).
    targets = np.asarray([int(rng.integers(N_ITEMS)) for _ in range(n)], dtype=np.int64)
    return Holdout(inputs, targets)


def test_validation_ndcg_is_the_former_number() -> None:
    for seed, members in ((0, 1), (1, 1), (2, 2)):
        net, holdout = small_net(seed, members), random_holdout(700, seed)
        new = holdout_ndcg(net, holdout, MAX_LEN, batch_size=256)
        old = former_holdout_ndcg(net, holdout, MAX_LEN, batch_size=256)
        # Same ranks; the gains are summed in float64 instead of float32 per batch.
        assert new == pytest.approx(old, rel=1e-6, abs=1e-9)
        assert 0.0 < new < 1.0


def test_target_ranks_are_the_former_torch_ranks() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, N_ITEMS)).astype(np.float32)
    scores[:, :5] = 0.0  # ties, the target among them in some rows
    scores[3, 7] = -np.inf
    targets = rng.integers(N_ITEMS, size=50)
    targets[3] = 7  # an excluded target: every finite item is above it
    t = torch.from_numpy(scores)
    former = (t > t.gather(1, torch.from_numpy(targets)[:, None])).sum(1).numpy()
    assert np.array_equal(m.target_ranks(scores, targets), former)
    assert m.target_ranks(scores, targets)[3] == N_ITEMS - 1


def test_ndcg_from_ranks_is_the_evaluation_ndcg_without_ties() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(200, N_ITEMS))
    targets = rng.integers(N_ITEMS, size=200)
    lists = m.top_k(scores, 10)
    hits = lists == targets[:, None]
    for k in (1, 5, 10):
        expected = m.rank_metrics(hits, np.ones(200), k)["NDCG"]
        got = m.ndcg_from_ranks(m.target_ranks(scores, targets), k)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
