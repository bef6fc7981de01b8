"""The feedback replay protocol runs through the serving code and learns online."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from service_helpers import make_settings_for

from driftrec.evaluation.feedback_replay import SignalDrift, refit_weights, replay
from driftrec.service.core import ServiceCore

pytestmark = pytest.mark.slow


def later_events(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    topics = ["crime", "space", "comedy"]
    return pd.DataFrame({
        "user_id": [f"train-{rng.integers(0, 12)}" for _ in range(n)],
        "item_id": [f"{topics[i % 3]}-{rng.integers(0, 8)}" for i in range(n)],
        "timestamp": np.arange(n) + 5000, "event_type": "click", "value": 1.0,
        "text": None})


def test_frozen_online_and_refit_replays(fused_dir, tmp_path):
    results = {}
    rows = None
    for variant in ("frozen", "online", "refit"):
        core = ServiceCore(make_settings_for(f"sqlite:///{tmp_path / variant}.db", fused_dir))
        try:
            fixed = refit_weights(rows) if variant == "refit" else None
            results[variant] = replay(core, later_events(), variant,
                                      online=variant == "online", fixed=fixed, batch=10,
                                      progress=False)
        finally:
            core.close()
        if variant == "frozen":
            rows = results[variant].rows
    assert results["frozen"].updates == 0 and results["online"].updates == 6
    assert len(rows[1]) > 0 and set(np.unique(rows[1])) <= {0, 1}
    assert results["online"].update_us_per_row > 0
    for r in results.values():
        assert 0 <= r.summary()["HR@10"] <= 1


def test_the_simulated_drift_makes_users_follow_one_signal(fused_dir, tmp_path):
    """With share 1 every replayed event of a user the main weights serve (histories of 20+
    events; shorter ones have their own weights, not learned online) becomes the user's
    unseen candidate that the followed signal ranks first; every variant replays the same
    events."""
    events = later_events(20)
    stored, drifted = {}, {}
    for variant in ("frozen", "online"):
        core = ServiceCore(make_settings_for(f"sqlite:///{tmp_path / variant}.db", fused_dir))
        try:
            result = replay(core, events, variant, online=variant == "online", batch=5,
                            progress=False, drift=SignalDrift("popularity", share=1.0))
            stored[variant] = {e.timestamp: e.item_id for u in set(events.user_id)
                               for e in core.store.user_events(core.store.user_key(u))
                               if e.timestamp >= 5000}
            popularity = core.models.current.train_counts
        finally:
            core.close()
        drifted[variant] = result.drifted
    assert drifted["frozen"] == drifted["online"] > 0
    assert stored["frozen"] == stored["online"]
    changed = [stored["frozen"][t] for t, item in zip(events.timestamp, events.item_id,
                                                       strict=True) if stored["frozen"][t] != item]
    assert 0 < len(changed) <= drifted["frozen"]
    # popularity is the followed signal: the items users moved to are popular ones
    assert np.mean([popularity.get(i, 0) for i in changed]) > np.median(list(popularity.values()))
    core = ServiceCore(make_settings_for(f"sqlite:///{tmp_path / 'other'}.db", fused_dir))
    try:
        with pytest.raises(ValueError, match="not one of the model's signals"):
            replay(core, events, "frozen", progress=False, drift=SignalDrift("charisma", 1.0))
    finally:
        core.close()


def test_a_replay_with_an_exploration_slot_counts_what_it_showed(fused_dir, tmp_path):
    settings = make_settings_for(f"sqlite:///{tmp_path / 'explore.db'}", fused_dir)
    settings.feedback.explore_slots = 1
    core = ServiceCore(settings)
    try:
        result = replay(core, later_events(30), "explore", online=True, batch=10,
                        progress=False)
        counts = core.store.item_feedback()
    finally:
        core.close()
    assert result.updates == 3
    assert sum(shown for shown, _ in counts.values()) == 30 * 10  # every list, every item
    assert sum(engaged for _, engaged in counts.values()) == round(result.summary()["HR@10"]
                                                                   * 30)
