"""The evaluation runner: protocols by name, and Ctrl-C keeps finished results."""

from __future__ import annotations

import pytest

from driftrec.data.dataset import Dataset
from driftrec.evaluation import runner
from driftrec.models.registry import create_model


def test_cold_item_protocol_reports_cold_targets_separately(ml100k: Dataset) -> None:
    rows = runner.run(ml100k, "cold-item", ["pop"], ks=(50,), progress=False)
    assert [r["protocol"] for r in rows] == ["cold-item: all targets", "cold-item: cold targets"]
    # Popularity is learned from training events only, so cold items can never be hit.
    assert rows[1]["HR@50"] == 0.0 and rows[1]["users"] > 0


def test_interrupt_returns_finished_rows(ml100k: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_create(name: str, **config):
        if name == "boom":
            class Interrupting:
                def fit(self, dataset):
                    raise KeyboardInterrupt
            return Interrupting()
        return create_model(name, **config)

    monkeypatch.setattr(runner, "create_model", fake_create)
    rows = runner.run(ml100k, "loo", ["pop", "boom", "itemknn"], ks=(10,), progress=False)
    assert [r["model"] for r in rows] == ["pop"]


def test_unknown_protocol(ml100k: Dataset) -> None:
    with pytest.raises(ValueError, match="unknown protocol"):
        runner.run(ml100k, "sideways", ["pop"])
