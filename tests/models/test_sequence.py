"""Sequence model: learning, causality, padding, checkpoints and new items, on tiny data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from driftrec.data.dataset import Dataset, Histories
from driftrec.models.base import Recommender
from driftrec.models.registry import create_model
from driftrec.models.sequence import SASRec, SASRecText
from driftrec.models.sequence import training as training_module
from driftrec.models.sequence.batching import right_align

N_ITEMS = 24
TINY = dict(hidden=16, n_layers=1, n_heads=2, max_len=12, batch_size=8, dropout=0.1,
            lr=1e-2, threads=1, valid_users=0, max_epochs=8, warmup_steps=1,
            lr_schedule="constant")


def cyclic_dataset(n_users: int = 30, length: int = 14, seed: int = 0) -> Dataset:
    """Users walk the catalogue in steps of one from a random start: a learnable order."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(N_ITEMS))
        for t in range(length):
            rows.append((f"u{u}", f"i{(start + t) % N_ITEMS}", t))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(N_ITEMS)]})
    return Dataset.from_frames(events, items)


def text_embeddings(n: int = N_ITEMS, dim: int = 8, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted_text_model() -> SASRecText:
    model = SASRecText(**TINY)
    model.show_progress = False
    return model.fit(cyclic_dataset(), item_embeddings=text_embeddings())


def test_both_variants_are_trainable_by_name():
    ds = cyclic_dataset(n_users=10)
    id_only = create_model("sasrec", **{**TINY, "max_epochs": 1})
    with_text = create_model("sasrec-text", **{**TINY, "max_epochs": 1})
    id_only.fit(ds)
    with_text.fit(ds, item_embeddings=text_embeddings())
    hist = Histories.from_item_lists([[1, 2, 3]])
    assert id_only.score(hist).shape == with_text.score(hist).shape == (1, N_ITEMS)
    assert not id_only.config["use_text"] and with_text.config["use_text"]


def test_training_loss_decreases(fitted_text_model):
    losses = [e["loss"] for e in fitted_text_model.report.history]
    assert len(losses) == TINY["max_epochs"]
    assert losses[-1] < 0.7 * losses[0]


def test_learns_the_next_item_in_the_walk(fitted_text_model):
    scores = fitted_text_model.score(Histories.from_item_lists([[5, 6, 7, 8]]))
    # item i{9} has dense index 9 (items table order)
    assert int(np.argmax(scores[0])) == 9


def test_early_stopping_tracks_validation_ndcg():
    model = SASRec(**{**TINY, "valid_users": 10, "eval_every": 1, "patience": 2, "max_epochs": 30})
    model.show_progress = False
    model.fit(cyclic_dataset())
    checked = [e["valid_ndcg10"] for e in model.report.history if "valid_ndcg10" in e]
    assert checked and model.report.best_ndcg10 == pytest.approx(max(checked))
    assert model.report.best_ndcg10 > 0.3


def test_no_position_sees_the_future(fitted_text_model):
    net = fitted_text_model.net
    a = right_align([np.array([3, 4, 5, 6, 7, 8])], 12)
    b = a.clone()
    b[0, -1] = 20  # change only the most recent item
    b[0, -2] = 15
    with torch.no_grad():
        ha, hb = net.encode(a), net.encode(b)
    assert torch.allclose(ha[0, :-2], hb[0, :-2], atol=1e-6)
    assert not torch.allclose(ha[0, -1], hb[0, -1])


def test_scoring_computes_the_last_position_alone_with_the_same_result(fitted_text_model):
    """Scoring needs only the state after the most recent item; the last block computes
    that position alone and must agree with the full forward's last row."""
    net = fitted_text_model.net.eval()
    seqs = right_align([np.array([3, 4, 5, 6, 7, 8]), np.array([9, 2])], 12)
    with torch.no_grad():
        full = net.encode(seqs)[:, -1]
        last = net.encode(seqs, last_only=True)
    assert last.shape == full.shape
    torch.testing.assert_close(last, full, rtol=1e-5, atol=1e-5)


def test_a_history_without_padding_is_encoded_without_a_mask_to_the_same_result(
        fitted_text_model):
    """One user's history has no padding: plain causal attention, no (L, L) mask read,
    gives the masked forward's numbers."""
    net = fitted_text_model.net.eval()
    seqs = right_align([np.array([3, 4, 5, 6, 7, 8, 9, 2])], 12)
    with torch.no_grad():
        for last_only in (False, True):
            masked = net.encode(seqs, last_only=last_only, padded=True)
            causal = net.encode(seqs, last_only=last_only, padded=False)
            torch.testing.assert_close(causal, masked, rtol=1e-6, atol=1e-6)


def test_padding_does_not_change_scores(fitted_text_model):
    short = [2, 3, 4]
    alone = fitted_text_model.score(Histories.from_item_lists([short]))
    batched = fitted_text_model.score(Histories.from_item_lists([short, list(range(11))]))
    np.testing.assert_allclose(alone[0], batched[0], rtol=1e-5, atol=1e-5)


def test_score_uses_only_the_last_max_len_items(fitted_text_model):
    recent = list(range(12))
    longer = [20, 21, 22, *recent]
    s = fitted_text_model.score(Histories.from_item_lists([recent, longer]))
    np.testing.assert_allclose(s[0], s[1], rtol=1e-5, atol=1e-5)


def test_a_new_event_changes_the_next_recommendation(fitted_text_model):
    s = fitted_text_model.score(Histories.from_item_lists([[1, 2, 3], [1, 2, 3, 10]]))
    assert int(np.argmax(s[0])) != int(np.argmax(s[1]))


@pytest.mark.parametrize("threads", [1, 2])
def test_seeded_training_is_reproducible(threads):
    ds = cyclic_dataset(n_users=12)
    runs = []
    for _ in range(2):
        model = SASRec(**{**TINY, "max_epochs": 2, "threads": threads})
        model.show_progress = False
        runs.append(model.fit(ds).score(Histories.from_item_lists([[1, 2]])))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_shards_add_up_to_the_whole_batch_gradient():
    from concurrent.futures import ThreadPoolExecutor

    from driftrec.models.sequence.config import SequenceConfig
    from driftrec.models.sequence.network import SequenceNet
    from driftrec.models.sequence.training import sharded_gradients

    cfg = SequenceConfig(**{**TINY, "dropout": 0.0, "bf16": False})
    net = SequenceNet(N_ITEMS, hidden=16, n_layers=1, n_heads=2, ffn_mult=2, dropout=0.0,
                      max_len=cfg.max_len)
    rng = np.random.default_rng(0)
    batch = [rng.integers(0, N_ITEMS, size=n) for n in (3, 5, 9, 14, 14, 2, 7)]
    gradients, losses = [], []
    with ThreadPoolExecutor(3) as pool:
        for n_shards in (1, 3):
            generators = [torch.Generator().manual_seed(k) for k in range(n_shards)]
            losses.append(sharded_gradients(net, batch, cfg, None, generators, pool))
            gradients.append([p.grad.clone() for p in net.parameters()])
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for whole, sharded in zip(*gradients, strict=True):
        torch.testing.assert_close(whole, sharded, rtol=1e-4, atol=1e-6)


def test_checkpoint_round_trips_with_weights_only(fitted_text_model, tmp_path):
    fitted_text_model.save(tmp_path / "seq")
    raw = torch.load(tmp_path / "seq" / "sequence.pt", weights_only=True)
    assert raw["item_ids"][:2] == ["i0", "i1"] and raw["config"]["hidden"] == 16
    loaded = Recommender.load(tmp_path / "seq")
    assert isinstance(loaded, SASRecText)
    hist = Histories.from_item_lists([[4, 5, 6], [0]])
    np.testing.assert_allclose(loaded.score(hist), fitted_text_model.score(hist), atol=1e-6)


def test_unseen_item_with_text_gets_a_finite_meaningful_score(fitted_text_model, tmp_path):
    fitted_text_model.save(tmp_path / "seq")
    model = Recommender.load(tmp_path / "seq")
    text = text_embeddings()
    # a new item whose text is the text of item 9 (the walk's next item after 8)
    model.add_items(["new"], text[[9]])
    assert model.n_items == N_ITEMS + 1
    scores = model.score(Histories.from_item_lists([[5, 6, 7, 8]]))[0]
    assert np.isfinite(scores).all()
    assert scores[N_ITEMS] > np.median(scores[:N_ITEMS])
    model.save(tmp_path / "grown")
    assert Recommender.load(tmp_path / "grown").n_items == N_ITEMS + 1


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="hidden"):
        SASRec(hidden=10, n_heads=3)
    with pytest.raises(ValueError, match=r"unknown sasrec model option 'hiden' \(did you mean "
                       r"'hidden'\?\)"):
        SASRec(hiden=10)
    with pytest.raises(ValueError, match="item_embeddings must have shape"):
        SASRecText(**TINY).fit(cyclic_dataset(), item_embeddings=np.zeros((3, 4)))
    with pytest.raises(RuntimeError, match="not fitted"):
        SASRec().score(Histories.from_item_lists([[1]]))


def test_ctrl_c_keeps_the_best_weights(monkeypatch):
    calls = {"n": 0}
    real_loss = training_module.sequence_loss

    def interrupt_later(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 12:
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(training_module, "sequence_loss", interrupt_later)
    model = SASRec(**{**TINY, "valid_users": 10, "eval_every": 1, "max_epochs": 50})
    model.show_progress = False
    model.fit(cyclic_dataset())
    assert model.report.stopped_by == "interrupted"
    assert 1 <= model.report.best_epoch <= model.report.epochs
    assert np.isfinite(model.score(Histories.from_item_lists([[1, 2]]))).all()


def test_training_ends_with_the_best_checkpoint_not_the_last(monkeypatch):
    """Validation NDCG peaks at the second of five checks: the model comes back with the
    weights it had at that check, not those of the last epoch (nor the initial ones)."""
    scripted = iter([0.1, 0.5, 0.2, 0.3, 0.25])
    seen: list[dict[str, torch.Tensor]] = []

    def scripted_ndcg(net, holdout, max_len):
        seen.append({k: v.detach().clone() for k, v in net.state_dict().items()})
        return next(scripted)

    monkeypatch.setattr(training_module, "holdout_ndcg", scripted_ndcg)
    model = SASRec(**{**TINY, "valid_users": 10, "eval_every": 1, "max_epochs": 5,
                      "patience": 10, "stall_limit": 0})
    model.show_progress = False
    model.fit(cyclic_dataset())
    assert len(seen) == 5 and model.report.best_epoch == 2
    assert model.report.best_ndcg10 == 0.5
    final = model.net.state_dict()
    assert all(torch.equal(final[k], seen[1][k]) for k in final)  # the epoch-2 weights
    assert not all(torch.equal(final[k], seen[-1][k]) for k in final)  # not the last ones


def test_chunked_softmax_loss_equals_plain_cross_entropy():
    from driftrec.models.sequence.loss import softmax_cross_entropy

    torch.manual_seed(0)
    h = torch.randn(300, 16, requires_grad=True)
    table = torch.randn(50, 16, requires_grad=True)
    y = torch.randint(0, 50, (300,))
    plain = torch.nn.functional.cross_entropy(h @ table.T, y)
    grads_plain = torch.autograd.grad(plain, (h, table))
    chunked = softmax_cross_entropy(h, table, y, chunk=64)
    grads_chunked = torch.autograd.grad(chunked, (h, table))
    assert torch.allclose(plain, chunked, atol=1e-5)
    for a, b in zip(grads_plain, grads_chunked, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    # bfloat16 products: the same loss to about two decimals, gradients pointing the same way
    low = softmax_cross_entropy(h, table, y, chunk=64, bf16=True)
    grads_low = torch.autograd.grad(low, (h, table))
    assert torch.allclose(plain, low, atol=0.05)
    for a, b in zip(grads_plain, grads_low, strict=True):
        assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.99


def test_items_without_events_are_ranked_by_their_text():
    ds = cyclic_dataset()
    items = pd.concat([ds.items, pd.DataFrame({"item_id": ["no-events"]})], ignore_index=True)
    ds = Dataset.from_frames(ds.events[["user_id", "item_id", "timestamp"]], items)
    emb = np.vstack([text_embeddings(), text_embeddings()[[9]]])  # reads like item 9
    # ID dropout in training teaches the model to rank by text alone, as it must here
    model = SASRecText(**{**TINY, "id_dropout": 0.3, "max_epochs": 25}).fit(
        ds, item_embeddings=emb)
    idx = N_ITEMS  # the extra item's index
    assert torch.count_nonzero(model.net.items.id_emb.weight[idx + 1]) == 0
    scores = model.score(Histories.from_item_lists([[5, 6, 7, 8]]))[0]
    assert np.isfinite(scores[idx]) and scores[idx] > np.median(scores[:N_ITEMS])


def test_cosine_similarity_learns_the_walk_with_bounded_scores():
    model = SASRec(**{**TINY, "similarity": "cosine", "temperature": 0.1, "max_epochs": 12})
    model.show_progress = False
    model.fit(cyclic_dataset())
    scores = model.score(Histories.from_item_lists([[5, 6, 7, 8]]))
    assert int(np.argmax(scores[0])) == 9
    # unit vectors over the temperature: no score can leave [-1/t, 1/t]
    assert np.abs(scores).max() <= 1 / 0.1 + 1e-4


def test_cosine_schedule_warms_up_then_decays_to_zero():
    from driftrec.models.sequence.config import SequenceConfig
    from driftrec.models.sequence.training import lr_factor

    factor = lr_factor(SequenceConfig(lr_schedule="cosine", warmup_steps=10), total_steps=110)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(60) == pytest.approx(0.5)
    assert factor(110) == pytest.approx(0.0, abs=1e-9)
    # half the time budget spent at a tenth of the steps: the decay follows the time
    assert factor(20, time_used=0.5) == pytest.approx(0.5)
    assert factor(20, time_used=1.0) == pytest.approx(0.0, abs=1e-9)
    constant = lr_factor(SequenceConfig(lr_schedule="constant", warmup_steps=10),
                         total_steps=110)
    assert constant(100) == 1.0


def test_unknown_similarity_or_schedule_is_named():
    with pytest.raises(ValueError, match="similarity"):
        SASRec(similarity="euclid")
    with pytest.raises(ValueError, match="lr_schedule"):
        SASRec(lr_schedule="step")
    with pytest.raises(ValueError, match="window"):
        SASRec(window="first")


def test_random_windows_cover_long_histories_and_keep_short_ones():
    from driftrec.models.sequence.training import random_windows

    long, short = np.arange(100), np.arange(7)
    rng = np.random.default_rng(0)
    seen: set[int] = set()
    for _ in range(200):
        cut, kept = random_windows([long, short], 10, rng)
        assert len(cut) == 10 and np.array_equal(np.diff(cut), np.ones(9))
        assert kept is short
        seen.update(cut.tolist())
    assert seen == set(range(100))


def test_random_windows_learn_the_walk_from_long_histories():
    model = SASRec(**{**TINY, "window": "random", "max_len": 6, "max_epochs": 12})
    model.show_progress = False
    model.fit(cyclic_dataset(length=20))
    scores = model.score(Histories.from_item_lists([[5, 6, 7, 8]]))
    assert int(np.argmax(scores[0])) == 9


def test_short_prefixes_are_each_users_first_events():
    from driftrec.models.sequence.training import short_prefixes

    seqs = [np.arange(30), np.arange(100, 105), np.arange(200, 202)]
    rng = np.random.default_rng(0)
    drawn = [short_prefixes(seqs, 2, 4, rng) for _ in range(100)]
    assert all(len(d) == 4 for d in drawn)  # two per user of three or more events
    for d in drawn:
        for prefix in d:
            source = seqs[0] if prefix[0] == 0 else seqs[1]
            assert 2 <= len(prefix) <= min(5, len(source) - 1)
            assert np.array_equal(prefix, source[:len(prefix)])
    assert {len(p) for d in drawn for p in d} == {2, 3, 4, 5}


def signup_dataset(n_users: int = 30, length: int = 14) -> Dataset:
    """A sign-up jump, then a walk: each user's second item is twelve places after the
    first, and every later one is the next item. User ``u`` starts at item ``u % 24``."""
    rows = []
    for u in range(n_users):
        first = u % N_ITEMS
        walk = [first] + [(first + 12 + t) % N_ITEMS for t in range(length - 1)]
        rows.extend((f"u{u}", f"i{item}", t) for t, item in enumerate(walk))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return Dataset.from_frames(events, pd.DataFrame({"item_id": [f"i{i}" for i in range(N_ITEMS)]}))


def test_short_prefixes_teach_how_a_new_users_first_events_go_on():
    # The last 12-item window of a 14-event history never holds the sign-up jump.
    def first_guess(**options) -> tuple[int, int]:
        model = SASRec(**{**TINY, "max_epochs": 20, **options})
        model.show_progress = False
        model.fit(signup_dataset())
        new_user = model.score(Histories.from_item_lists([[5]]))  # user u5's first item
        long_user = model.score(Histories.from_item_lists([[17, 18, 19, 20]]))
        return int(np.argmax(new_user[0])), int(np.argmax(long_user[0]))

    assert first_guess() == (6, 21)  # the walk, also for a first event
    assert first_guess(short_prefixes=2, prefix_events=3) == (17, 21)


def test_given_next_events_decide_early_stopping():
    ds = cyclic_dataset()
    last = ds.events.groupby("user_idx").tail(1)
    train = ds.with_events(ds.events.drop(index=last.index))
    model = SASRec(**{**TINY, "eval_every": 1, "max_epochs": 6})
    model.show_progress = False
    model.fit(train, valid_events=last)
    checked = [e["valid_ndcg10"] for e in model.report.history if "valid_ndcg10" in e]
    assert len(checked) == 6 and model.report.best_ndcg10 == pytest.approx(max(checked))


def test_patience_waits_for_the_cosine_decay():
    from driftrec.models.sequence.config import SequenceConfig
    from driftrec.models.sequence.training import counts_for_patience

    cosine = SequenceConfig(lr_schedule="cosine")
    assert not counts_for_patience(cosine, 0.8) and counts_for_patience(cosine, 0.4)
    assert counts_for_patience(SequenceConfig(lr_schedule="constant"), 1.0)


def test_a_long_stall_stops_training_even_at_a_high_rate():
    # Patience never counts here (the rate stays above half its peak for 200 epochs), so
    # only the stall limit can end training: 3 checks after the best one.
    model = SASRec(**{**TINY, "valid_users": 10, "eval_every": 1, "max_epochs": 200,
                      "lr_schedule": "cosine", "patience": 1, "stall_limit": 3, "lr": 0.05})
    model.show_progress = False
    model.fit(cyclic_dataset())
    report = model.report
    assert report.stopped_by == "early_stopping" and report.epochs < 100
    assert report.epochs - report.best_epoch == 3


@pytest.fixture(scope="module")
def fitted_ensemble() -> SASRecText:
    model = SASRecText(**{**TINY, "members": 2, "threads": 2, "valid_users": 10})
    model.show_progress = False
    return model.fit(cyclic_dataset(), item_embeddings=text_embeddings())


def test_ensemble_members_train_from_different_seeds(fitted_ensemble):
    first, second = fitted_ensemble.net.members
    assert not torch.equal(first.items.id_emb.weight, second.items.id_emb.weight)
    reports = fitted_ensemble.report.members
    assert len(reports) == 2 and all(len(r["history"]) == r["epochs"] for r in reports)
    assert fitted_ensemble.report.epochs == max(r["epochs"] for r in reports)
    assert 0.0 < fitted_ensemble.report.best_ndcg10 <= 1.0


def test_ensemble_scores_are_the_members_mean_and_learn_the_walk(fitted_ensemble):
    hist = Histories.from_item_lists([[5, 6, 7, 8]])
    seqs = right_align([np.asarray([5, 6, 7, 8])], TINY["max_len"])
    with torch.no_grad():
        each = [m.score_last(seqs) for m in fitted_ensemble.net.members]
    np.testing.assert_allclose(fitted_ensemble.score(hist), ((each[0] + each[1]) / 2).numpy(),
                               atol=1e-6)
    assert int(np.argmax(fitted_ensemble.score(hist)[0])) == 9


def test_ensemble_checkpoint_round_trips_and_accepts_new_items(fitted_ensemble, tmp_path):
    fitted_ensemble.save(tmp_path / "ens")
    raw = torch.load(tmp_path / "ens" / "sequence.pt", weights_only=True)
    assert raw["config"]["members"] == 2 and len(raw["report"]["members"]) == 2
    loaded = Recommender.load(tmp_path / "ens")
    hist = Histories.from_item_lists([[4, 5, 6], [0]])
    np.testing.assert_allclose(loaded.score(hist), fitted_ensemble.score(hist), atol=1e-6)
    loaded.add_items(["new"], text_embeddings()[[9]])
    assert loaded.score(hist).shape == (2, N_ITEMS + 1)


def test_stop_event_ends_training_with_the_best_weights():
    import threading

    stop = threading.Event()
    stop.set()
    net = SASRec(**TINY)._build(N_ITEMS, None)
    seqs = Histories.from_events(cyclic_dataset().events).items
    cfg = SASRec(**TINY).cfg
    report = training_module.train_network(net, seqs, None, cfg, show_progress=False, stop=stop)
    assert report.stopped_by == "interrupted" and report.epochs == 0


def test_time_budget_stops_mid_epoch_and_validates_the_last_weights(monkeypatch):
    """Each clock reading advances a second; a 1-minute budget ends within the run, the
    epoch in progress stops when the rate reaches zero, and those weights are validated
    (the cosine schedule's last weights are usually its best) even off the check cycle."""
    clock = {"t": 0.0}

    def tick() -> float:
        clock["t"] += 1.0
        return clock["t"]

    monkeypatch.setattr(training_module.time, "perf_counter", tick)
    model = SASRec(**{**TINY, "valid_users": 10, "eval_every": 7, "max_epochs": 50,
                      "time_budget_min": 1.0, "lr_schedule": "cosine"})
    model.show_progress = False
    model.fit(cyclic_dataset())
    report = model.report
    assert report.stopped_by == "time_budget" and report.epochs < 50
    assert report.epochs % 7 != 0 and "valid_ndcg10" in report.history[-1]


def test_serving_reuses_the_item_table_until_the_weights_change(fitted_text_model, tmp_path):
    """The item table is computed once while serving, and again after any weight change."""
    fitted_text_model.save(tmp_path / "m")
    model = Recommender.load(tmp_path / "m")
    net = model.net
    hist = Histories.from_item_lists([[1, 2, 3]])

    def uncached() -> np.ndarray:
        with torch.no_grad():  # not inference mode: the table is computed afresh
            return net.score_last(right_align([np.array([1, 2, 3])], net.max_len)).numpy()

    first = model.score(hist)
    assert np.array_equal(first, model.score(hist)) and np.array_equal(first, uncached())
    with torch.no_grad():
        net.items.text_proj.weight.mul_(2.0)  # as an optimiser step would
    changed = model.score(hist)
    assert not np.array_equal(changed, first) and np.array_equal(changed, uncached())
    model.add_items(["new"], text_embeddings()[[9]])
    assert model.score(hist).shape == (1, N_ITEMS + 1)
    np.testing.assert_array_equal(model.score(hist), uncached())


def test_serving_trace_gives_the_eager_scores_for_any_batch_and_weights(fitted_text_model,
                                                                         tmp_path):
    """Serving runs a traced forward: the same numbers as eager, for other lengths and
    batch sizes than the one traced, and after the weights change in place."""
    fitted_text_model.save(tmp_path / "m")
    net = Recommender.load(tmp_path / "m").net.eval()
    rng = np.random.default_rng(0)
    batches = [right_align([rng.integers(0, N_ITEMS, n) for n in lengths], net.max_len)
               for lengths in ([3], [12], [1, 5, 12, 7], [2] * 9)]

    def both(seqs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            eager = net.score_last(seqs).numpy()
        with torch.inference_mode():
            traced = net.score_last(seqs).numpy()
        return eager, traced

    for seqs in batches:
        np.testing.assert_array_equal(*both(seqs))
    assert set(net.__dict__["_traced"]) == {True, False}  # with and without padding
    with torch.no_grad():
        net.blocks[0].ffn[0].weight.mul_(1.5)  # as an optimiser step would
    eager, traced = both(batches[2])
    np.testing.assert_array_equal(eager, traced)
    with torch.inference_mode(), pytest.raises(ValueError, match="exceeds max_len"):
        net.score_last(torch.ones(1, net.max_len + 1, dtype=torch.int64))
