"""The CLI contract end to end on MovieLens-100K: train, recommend, evaluate, data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftrec.cli import app
from driftrec.data.dataset import Dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def ml100k_files(tmp_path_factory: pytest.TempPathFactory, ml100k: Dataset) -> dict[str, Path]:
    """ML-100K written as a user would have it: an events CSV and an items CSV whose
    catalogue has one extra item nobody has rated yet."""
    folder = tmp_path_factory.mktemp("ml100k")
    events = folder / "events.csv"
    ml100k.events[["user_id", "item_id", "timestamp", "value"]].rename(
        columns={"user_id": "userID", "item_id": "itemID", "value": "rating"}
    ).to_csv(events, index=False)
    items = folder / "items.csv"
    catalogue = ml100k.items.copy()
    catalogue.loc[len(catalogue)] = ["new-1", "Brand New Film", "1998", "Drama"]
    catalogue.to_csv(items, index=False)
    return {"events": events, "items": items, "folder": folder}


@pytest.fixture(scope="module")
def trained(ml100k_files: dict[str, Path]) -> Path:
    out = ml100k_files["folder"] / "model"
    result = runner.invoke(app, ["train", "--events", str(ml100k_files["events"]), "--items",
                                 str(ml100k_files["items"]), "--model", "ease", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_recommend_jsonl_uses_original_ids_and_excludes_seen(
    trained: Path, ml100k_files: dict[str, Path], ml100k: Dataset
) -> None:
    users = ml100k_files["folder"] / "users.txt"
    users.write_text("1\n42\n")
    result = runner.invoke(app, ["recommend", "--model-dir", str(trained), "--users", str(users),
                                 "--k", "10", "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["user_id"] for x in lines] == ["1", "42"]
    seen = set(ml100k.events.loc[ml100k.events["user_id"] == "1", "item_id"])
    assert len(lines[0]["items"]) == 10 and not seen & set(lines[0]["items"])
    assert lines[0]["scores"] == sorted(lines[0]["scores"], reverse=True)
    assert set(lines[0]["items"]) <= set(ml100k.item_ids) | {"new-1"}


def test_recommend_include_seen_all_users_csv(trained: Path, ml100k: Dataset) -> None:
    result = runner.invoke(app, ["recommend", "--model-dir", str(trained), "--users", "all",
                                 "--k", "3", "--include-seen", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = result.stdout.strip().splitlines()
    assert rows[0] == "user_id,rank,item_id,score"
    assert len(rows) == 1 + 943 * 3
    # EASE ranks a user's own favourites first when they are allowed.
    user1 = [r.split(",")[2] for r in rows[1:4]]
    assert set(user1) & set(ml100k.events.loc[ml100k.events["user_id"] == "1", "item_id"])


def test_unknown_user_gets_popular_items(trained: Path, ml100k_files: dict[str, Path]) -> None:
    users = ml100k_files["folder"] / "nobody.txt"
    users.write_text("never-seen\n")
    result = runner.invoke(app, ["recommend", "--model-dir", str(trained), "--users", str(users)])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert line["items"][0] == "50"  # Star Wars: the most-rated film in ML-100K


def test_train_rejects_events_with_items_missing_from_items_file(
    ml100k_files: dict[str, Path], tmp_path: Path
) -> None:
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id\n1,1\n1,does-not-exist\n")
    args = ["train", "--events", str(events), "--items", str(ml100k_files["items"]),
            "--model", "pop", "--out", str(tmp_path / "m")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "does-not-exist" in result.output
    result = runner.invoke(app, [*args, "--unknown-items", "warn"])
    assert result.exit_code == 0, result.output
    assert "item id not in the items table" in result.output


def test_evaluate_writes_json_and_markdown(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--dataset", "ml-100k", "--protocol", "loo",
                                 "--models", "pop,itemknn", "--k", "10,20", "--out",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "ml-100k-loo.json").read_text())
    assert [r["model"] for r in data["rows"]] == ["pop", "itemknn"]
    assert data["protocol"]["exclude_seen"] is True
    assert all(0 <= r["HR@10"] <= r["HR@20"] <= 1 for r in data["rows"])
    assert "| protocol | model | HR@10 |" in (tmp_path / "ml-100k-loo.md").read_text()


def test_bad_arguments_fail_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--dataset", "ml-100k", "--k", "ten"])
    assert result.exit_code == 2 and "--k" in result.output
    result = runner.invoke(app, ["evaluate", "--dataset", "ml-100k", "--models", "nope"])
    assert result.exit_code == 2 and "unknown model" in result.output
    result = runner.invoke(app, ["data", "fetch", "ml-10z"])
    assert result.exit_code == 2 and "unknown dataset" in result.output


def test_console_script_is_installed() -> None:
    out = subprocess.run([sys.executable, "-m", "driftrec", "--help"], capture_output=True,
                         text=True, check=True)
    assert "train" in out.stdout and "evaluate" in out.stdout


def test_models_lists_every_model_with_its_options() -> None:
    from driftrec.models.registry import MODELS

    result = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in MODELS)
    assert "neighbours" in result.output and "fused (default)" in result.output
    one = runner.invoke(app, ["models", "itemknn"], env={"COLUMNS": "200"})
    assert one.exit_code == 0 and "shrink" in one.output and "l2" not in one.output
    bad = runner.invoke(app, ["models", "nope"])
    assert bad.exit_code == 2 and "unknown model" in bad.output


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_misspelled_config_option_fails_before_any_work(command: str, tmp_path: Path) -> None:
    config = tmp_path / "itemknn.toml"
    config.write_text("[models.itemknn]\nneighbors = 50\n")
    args = {"train": ["train", "--events", "ml-100k", "--model", "itemknn", "--out",
                      str(tmp_path / "model")],
            "evaluate": ["evaluate", "--dataset", "ml-100k", "--models", "pop,itemknn",
                         "--out", str(tmp_path)]}[command]
    result = runner.invoke(app, [*args, "--config", str(config)], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "itemknn" in result.output and "'neighbors'" in result.output
    assert "did you mean 'neighbours'?" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert not (tmp_path / "model").exists()


def test_a_nested_misspelled_option_names_the_component(tmp_path: Path) -> None:
    config = tmp_path / "fused.toml"
    config.write_text("[model]\nsequence = {hiden = 8}\n")
    result = runner.invoke(app, ["train", "--events", "ml-100k", "--out", str(tmp_path / "m"),
                                 "--config", str(config)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "fused" in result.output and "sequence" in result.output and "'hiden'" in result.output
