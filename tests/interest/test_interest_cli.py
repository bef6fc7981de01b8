"""``driftrec interest profile`` on a small events file with an items file."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from driftrec.cli import app


@pytest.mark.slow
def test_profile_command_prints_json(tmp_path) -> None:
    (tmp_path / "events.csv").write_text(
        "user_id,item_id,timestamp,rating\n"
        "ann,1,100,5\nann,2,200,4\nann,3,300,5\nbob,3,150,2\n"
    )
    (tmp_path / "items.csv").write_text(
        "item_id,title,genres\n1,Alien,Horror|Sci-Fi\n2,Aliens,Action|Sci-Fi\n"
        "3,Babe,Children's|Comedy\n"
    )
    result = CliRunner().invoke(app, [
        "interest", "profile", str(tmp_path / "events.csv"), "ann",
        "--items", str(tmp_path / "items.csv"), "--cache-dir", str(tmp_path / "cache"),
    ])
    assert result.exit_code == 0, result.output
    profile = json.loads(result.output[result.output.index("{"):])
    assert profile["user_id"] == "ann" and profile["n_events"] == 3
    assert profile["recent_items"][-1]["title"] == "Babe"


def test_unknown_user_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "events.csv").write_text("user_id,item_id,timestamp\nann,1,1\n")
    result = CliRunner().invoke(app, [
        "interest", "profile", str(tmp_path / "events.csv"), "zed",
        "--encoder", "use-multilingual", "--cache-dir", str(tmp_path / "cache"),
    ])
    assert result.exit_code != 0
    assert "zed" in result.output
