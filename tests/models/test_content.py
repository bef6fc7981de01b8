"""Content model: scores from interest, transfer for new users, new items, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftrec.data.dataset import Dataset, Histories
from driftrec.models.base import Recommender
from driftrec.models.content import ContentRecommender
from driftrec.models.registry import create_model

GENRES = ["horror", "comedy", "drama"]


@pytest.fixture
def catalogue() -> tuple[Dataset, np.ndarray]:
    """30 items in three genres (vectors near three directions); users stick to one genre."""
    rng = np.random.default_rng(0)
    centres = np.eye(16)[:3]
    vecs = np.repeat(centres, 10, axis=0) + 0.2 * rng.normal(size=(30, 16))
    items = pd.DataFrame({"item_id": [f"m{j}" for j in range(30)],
                          "title": [f"{GENRES[j // 10]} film {j}" for j in range(30)]})
    rows = []
    for u in range(30):
        g = u % 3
        for t, j in enumerate(rng.choice(10, 6, replace=False)):
            rows.append((f"u{u}", f"m{g * 10 + j}", t, 5.0))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "value"])
    return Dataset.from_frames(events, items), vecs


def _fit(ds: Dataset, vecs: np.ndarray, **cfg) -> ContentRecommender:
    return ContentRecommender(n_neighbours=5, **cfg).fit(ds, item_vectors=vecs)


def test_registered_and_handles_new_items() -> None:
    model = create_model("content")
    assert isinstance(model, ContentRecommender) and model.handles_new_items


def test_scores_follow_the_users_genre(catalogue) -> None:
    ds, vecs = catalogue
    model = _fit(ds, vecs)
    h = Histories.from_item_lists([[0, 1, 2], [25, 26]])
    scores = model.score(h)
    assert scores.shape == (2, 30) and scores.dtype == np.float32
    assert scores[0, :10].mean() > scores[0, 10:].mean()
    assert scores[1, 20:].mean() > scores[1, :20].mean()


def test_signals_for_fusion(catalogue) -> None:
    ds, vecs = catalogue
    sig = _fit(ds, vecs).signals(Histories.from_item_lists([[0, 1], []]))
    for key in ("long_term", "short_term", "cluster", "transfer", "popularity"):
        assert sig[key].shape == (2, 30) and sig[key].dtype == np.float32, key
    assert sig["transfer"][0, :10].sum() > sig["transfer"][0, 10:].sum()
    assert not sig["long_term"][1].any()  # no events, no interest


def test_users_side_then_any_items_gives_the_same_signals(catalogue) -> None:
    """The users' side is computed once (the fused model does it while its network runs);
    the signals of any items follow from it, equal to those of the whole catalogue (to the
    rounding of a matrix product over fewer rows)."""
    ds, vecs = catalogue
    model = _fit(ds, vecs, thin_below=3, thin_neighbours=20)
    h = Histories.from_item_lists([[0, 1, 2, 3, 4, 5], [25, 26], []])  # wide and thin
    side = model.user_side(h)
    assert side.centres[0] is not None and side.centres[1] is None  # 2 items: no clusters
    assert sorted(len(rows) for rows, _, _ in side.neighbours) == [1, 2]
    whole = model.signals(h)
    some = np.array([3, 12, 29])
    part = model.signals_for(side, some)
    for key in ("long_term", "short_term", "cluster", "transfer", "popularity"):
        np.testing.assert_allclose(part[key], whole[key][:, some], rtol=1e-6, atol=1e-7,
                                   err_msg=key)


def test_user_with_no_events_gets_popularity(catalogue) -> None:
    ds, vecs = catalogue
    model = _fit(ds, vecs)
    scores = model.score(Histories.from_item_lists([[]]))[0]
    assert np.argmax(scores) == np.argmax(model.popularity)


def test_new_item_is_recommendable_at_once(catalogue) -> None:
    ds, vecs = catalogue
    model = _fit(ds, vecs)
    new_vec = np.eye(16)[:1] + 0.01  # a brand-new horror film
    idx = model.add_items(["fresh"], new_vec)
    assert list(idx) == [30] and model.n_items == 31
    scores = model.score(Histories.from_item_lists([[0, 1, 2, 3]]))[0]
    assert scores.shape == (31,)
    horror_rank = (scores[:10] > scores[30]).sum()
    assert (scores[10:30] < scores[30]).all() and horror_rank < 10
    with pytest.raises(ValueError, match="already in the catalogue"):
        model.add_items(["fresh"], new_vec)


def test_borrowed_interest_fades_as_history_grows(catalogue) -> None:
    ds, vecs = catalogue
    model = _fit(ds, vecs)
    thin = model.score(Histories.from_item_lists([[0]]))[0]
    rich = model.score(Histories.from_item_lists([list(range(10))]))[0]
    borrowed = model.signals(Histories.from_item_lists([[0]]))["popularity"][0]
    # a one-event user leans on what others engaged with far more than a ten-event user
    assert np.corrcoef(thin, borrowed)[0, 1] > np.corrcoef(rich, borrowed)[0, 1]


def test_save_load_round_trip(catalogue, tmp_path) -> None:
    ds, vecs = catalogue
    model = _fit(ds, vecs, w_cluster=0.5)
    model.add_items(["fresh"], np.eye(16)[2:3])
    model.save(tmp_path / "content")
    back = Recommender.load(tmp_path / "content")
    h = Histories.from_item_lists([[0, 12, 13], [5]])
    np.testing.assert_allclose(back.score(h), model.score(h), atol=1e-6)
    assert list(back.item_ids) == list(model.item_ids)


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(ValueError, match="w_lng"):
        ContentRecommender(w_lng=1.0)


@pytest.mark.slow
def test_text_path_end_to_end_with_minilm(tmp_path) -> None:
    items = pd.DataFrame({"item_id": ["1", "2", "3", "4"],
                          "title": ["Alien", "Aliens", "Babe", "Toy Story"],
                          "year": [1979, 1986, 1995, 1995],
                          "genres": ["Horror|Sci-Fi", "Action|Sci-Fi|Thriller",
                                     "Children's|Comedy", "Animation|Children's|Comedy"]})
    events = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["1", "2", "3"],
                           "timestamp": [1, 2, 3]})
    ds = Dataset.from_frames(events, items)
    model = ContentRecommender(cache_dir=str(tmp_path), n_neighbours=2).fit(ds)
    model.add_items(["5"], texts=["Predator (1987). Genres: Action, Sci-Fi, Thriller"])
    scores = model.signals(Histories.from_item_lists([[0, 1]]))["long_term"][0]
    assert scores[4] > scores[3]  # the new sci-fi film beats the cartoon


def test_a_search_alone_steers_a_new_users_list(catalogue) -> None:
    from driftrec.interest import Event, new_state, update

    ds, vecs = catalogue
    model = _fit(ds, vecs)
    nobody = new_state("new", 16)
    searcher = new_state("new", 16)
    drama_query = np.eye(16)[2]  # the embedding of e.g. "a moving family drama"
    update(searcher, Event("new", None, 0.0, "search", text="family drama"),
           text_vector=drama_query)
    plain, steered = model.score_states([nobody, searcher])
    assert np.argmax(plain) == np.argmax(model.popularity)
    assert steered[20:].mean() - steered[:20].mean() > plain[20:].mean() - plain[:20].mean()
