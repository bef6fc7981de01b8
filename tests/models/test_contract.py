"""Every registered model keeps the contract: one options class, fit, score, save/load with
its resolved options, and new items where it says it handles them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftrec.cli.common import read_config
from driftrec.data.dataset import Dataset, Histories
from driftrec.models.base import MODEL_FILE, Recommender
from driftrec.models.config import ModelConfig, ModelConfigError
from driftrec.models.registry import (
    CONFIGS,
    MODELS,
    config_class,
    create_model,
    get_model_class,
    validate_config,
)
from driftrec.recommend.encoding import HashingEncoder
from driftrec.text import item_texts

ROOT = Path(__file__).resolve().parents[2]
#: Sequence models as small as they get: one epoch of a width-8, one-block network.
TINY_SEQUENCE: dict[str, Any] = dict(hidden=8, n_layers=1, n_heads=1, max_len=8, batch_size=8,
                                     max_epochs=1, warmup_steps=1, valid_users=0, threads=1)
TINY_CONTENT: dict[str, Any] = dict(n_neighbours=2, thin_neighbours=3)
#: Options that make each registered model fit in well under a second on ``tiny``.
TINY: dict[str, dict[str, Any]] = {
    "pop": {},
    "itemknn": {"neighbours": 3},
    "ease": {"l2": 10.0},
    "content": {"encoder": "hashing", **TINY_CONTENT},
    "sasrec": TINY_SEQUENCE,
    "sasrec-text": {**TINY_SEQUENCE, "encoder": "hashing"},
    "fused": {"encoder": "hashing", "sequence": TINY_SEQUENCE, "content": TINY_CONTENT,
              "holdout_users": 3, "hard_negatives": 3},
}


def test_every_registered_model_has_tiny_options() -> None:
    assert set(TINY) == set(MODELS)


#: How a model that reads item text takes the catalogue's embeddings (skipping its encoder).
TEXT_ARGUMENT = {"content": "item_vectors", "sasrec-text": "item_embeddings",
                 "fused": "item_embeddings"}
ENCODER = HashingEncoder(dim=16)


def fit(name: str, dataset: Dataset) -> Recommender:
    model = create_model(name, **TINY[name])
    model.show_progress = False  # the sequence models' progress bar
    if name in TEXT_ARGUMENT:
        text = ENCODER.encode(item_texts(dataset.items))
        return model.fit(dataset, **{TEXT_ARGUMENT[name]: text})
    return model.fit(dataset)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fit_score_save_load_round_trip(name: str, tiny: Dataset, tmp_path: Path) -> None:
    model = fit(name, tiny)
    assert model.name == name and isinstance(model.settings, model.config_class)
    hist = Histories.from_events(tiny.events)
    scores = model.score(hist)
    assert scores.shape == (len(hist), tiny.n_items)
    assert np.isfinite(scores).all()

    directory = model.save(tmp_path / name)
    saved = json.loads((directory / MODEL_FILE).read_text())["config"]
    # every option, defaults filled, read back through the same class
    assert set(saved) == set(model.config_class.model_fields)
    assert saved == model.config
    loaded = Recommender.load(directory)
    assert type(loaded) is type(model)
    assert loaded.settings == model.settings
    np.testing.assert_allclose(loaded.score(hist), scores, rtol=1e-5, atol=1e-5)

    if not model.handles_new_items:
        return
    new = ENCODER.encode(["a brand new film"]).astype(np.float32)
    for m in (model, loaded):
        m.add_items(["new-1"], new)
        assert m.n_items == tiny.n_items + 1 and str(m.item_ids[-1]) == "new-1"
    after = model.score(hist)
    assert after.shape == (len(hist), tiny.n_items + 1)
    assert np.isfinite(after).all()
    np.testing.assert_allclose(loaded.score(hist), after, rtol=1e-5, atol=1e-5)


def misspelled(name: str) -> tuple[str, str | None]:
    """A misspelling of the model's longest option (and that option), or a made-up key."""
    options = list(config_class(name).model_fields)
    if not options:
        return "neighbours", None
    real = max(options, key=len)
    return real + real[-1], real


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_misspelled_option_is_an_error_that_names_it(name: str) -> None:
    wrong, real = misspelled(name)
    with pytest.raises(ModelConfigError) as info:
        create_model(name, **{wrong: 1})
    message = str(info.value)
    assert f"{wrong!r}" in message and name in message
    if real is None:
        assert "takes no options" in message
    else:
        assert f"did you mean {real!r}?" in message
        assert all(option in message for option in config_class(name).model_fields)
    # the same check, without building the model (what the CLI runs before loading data)
    with pytest.raises(ValueError, match=repr(wrong)):
        validate_config(name, {wrong: 1})


def test_itemknn_neighbors_is_not_silently_ignored() -> None:
    with pytest.raises(ValueError, match=r"'neighbors' \(did you mean 'neighbours'\?\)"):
        create_model("itemknn", neighbors=50)


def test_a_misspelled_nested_option_names_the_component() -> None:
    with pytest.raises(ValueError, match=r"sequence: unknown sasrec-text model option 'hiden'"):
        create_model("fused", sequence={"hiden": 8})
    with pytest.raises(ValueError, match=r"content: unknown content model option 'w_lng'"):
        create_model("default", content={"w_lng": 1.0})
    with pytest.raises(ValueError, match="interest config field"):
        create_model("content", interest={"half_life": 1.0})


def test_types_and_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match=r"neighbours=-1: .*greater than or equal to 0"):
        create_model("itemknn", neighbours=-1)
    with pytest.raises(ValueError, match="dropout"):
        create_model("sasrec", dropout=1.0)
    with pytest.raises(ValueError, match="C=0"):
        create_model("fused", C=0)
    with pytest.raises(ValueError, match="l2='a lot'"):
        create_model("ease", l2="a lot")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_options_have_a_type_default_and_description(name: str) -> None:
    cls = config_class(name)
    assert issubclass(cls, ModelConfig) and cls.model_config["extra"] == "forbid"
    for row in cls.options():
        assert row["type"] and row["default"] and row["description"], row
    resolved = validate_config(name)
    assert set(resolved.to_dict()) == set(cls.model_fields)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_torch_free_options_are_the_models_own(name: str) -> None:
    assert config_class(name) is get_model_class(name).config_class


def test_option_names_and_defaults_are_kept() -> None:
    """Options are a contract with config files and clients: names and defaults stay."""
    assert validate_config("itemknn").to_dict() == {"neighbours": 100, "shrink": 0.0}
    assert validate_config("ease").to_dict() == {"l2": 500.0}
    assert validate_config("pop").to_dict() == {}
    fused = validate_config("default").to_dict()
    assert {k: fused[k] for k in ("sequence_model", "encoder", "holdout_users", "candidates",
                                  "hard_negatives", "random_negatives", "C", "objective",
                                  "seed")} == {
        "sequence_model": "sasrec-text", "encoder": "minilm", "holdout_users": 2000,
        "candidates": 100, "hard_negatives": 50, "random_negatives": 0, "C": 1.0,
        "objective": "pairwise", "seed": 0}
    content = validate_config("content").to_dict()
    assert (content["w_thin"], content["n_neighbours"], content["thin_neighbours"],
            content["template"], content["interest"]) == (4.0, 50, 3000, None, {})
    sasrec, text = validate_config("sasrec").to_dict(), validate_config("sasrec-text").to_dict()
    assert (sasrec["use_text"], text["use_text"]) == (False, True)
    assert (text["hidden"], text["n_layers"], text["max_len"], text["lr"],
            text["time_budget_min"]) == (64, 4, 200, 3e-3, 42.0)


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks" / "configs").glob("*.toml")),
                         ids=lambda p: p.name)
def test_benchmark_config_files_are_valid(path: Path) -> None:
    raw = read_config(path)  # what `driftrec train/evaluate --config` read
    for name, options in raw.get("models", {}).items():
        validate_config(name, options)
    if "model" in raw:  # read by `driftrec train` / the benchmarks for the default model
        validate_config("default", raw["model"])


def test_an_old_bundle_with_an_ignored_option_still_loads(tiny: Dataset, tmp_path) -> None:
    directory = create_model("itemknn").fit(tiny).save(tmp_path / "old")
    meta = json.loads((directory / MODEL_FILE).read_text())
    meta["config"] = {"neighbours": 100, "neighbors": 50}  # accepted (and ignored) before
    (directory / MODEL_FILE).write_text(json.dumps(meta))
    assert Recommender.load(directory).config == {"neighbours": 100, "shrink": 0.0}


def test_listing_options_and_loading_a_popularity_model_import_no_torch(tiny, tmp_path
                                                                        ) -> None:
    directory = create_model("pop").fit(tiny).save(tmp_path / "pop")
    code = (
        "import sys\n"
        "from driftrec.models.base import Recommender\n"
        "from driftrec.models.registry import MODELS, config_class\n"
        "rows = [config_class(n).options() for n in MODELS]\n"
        f"Recommender.load({str(directory)!r})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_renamed_option_is_still_accepted_under_its_former_name(caplog) -> None:
    model = create_model("content", n_neighbors=7, thin_neighbors=9)
    assert model.config["n_neighbours"] == 7 and model.config["thin_neighbours"] == 9
    assert "is now spelled 'n_neighbours'" in caplog.text
