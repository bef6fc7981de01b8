"""Interest transfer: borrowed interest fades as the user's own history grows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from driftrec.interest.transfer import TransferIndex, transfer_weight


def test_weight_fades_with_history() -> None:
    w = transfer_weight(np.array([0, 1, 5, 20, 500]), k0=5.0)
    assert w[0] == 1.0 and w[2] == 0.5
    assert np.all(np.diff(w) < 0) and w[-1] < 0.01
    assert transfer_weight(3, k0=0.0) == 0.0


def _index() -> TransferIndex:
    users = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.9, 0.1]], dtype=float)
    items = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1]]))
    return TransferIndex(users, items, n_neighbours=2, k0=1.0)


def test_neighbours_and_their_items() -> None:
    idx = _index()
    nb, sims = idx.neighbours(np.array([[1.0, 0.0, 0.0]]))
    assert set(nb[0]) == {0, 1} and sims[0, 0] >= sims[0, 1]
    scores = idx.item_scores(np.array([[1.0, 0.0, 0.0]]))
    assert scores[0, 0] > 0.99  # both neighbours engaged with item 0
    assert scores[0, 3] == 0.0


def test_a_user_is_never_their_own_neighbour() -> None:
    nb, _ = _index().neighbours(np.array([[1.0, 0.0, 0.0]]), exclude=np.array([0]))
    assert 0 not in nb[0]


def test_blend_moves_thin_users_more() -> None:
    idx = _index()
    own = np.array([[1.0, 0.0, 0.2], [1.0, 0.0, 0.2]])
    blended = idx.blend(own, n_events=np.array([0, 100]))
    unit = own[0] / np.linalg.norm(own[0])
    assert blended[0] @ unit < blended[1] @ unit  # the new user borrowed more
    assert blended[1] @ unit > 0.99


def test_segment_centroid_source() -> None:
    idx = TransferIndex(np.eye(3), centroids=np.array([[1.0, 0, 0], [0, 1.0, 0]]), k0=1.0)
    out = idx.blend(np.array([[0.2, 1.0, 0.0]]), np.array([1]), source="segment")
    assert out[0, 1] > 0.95
