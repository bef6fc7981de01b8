"""One meaning of a missing event value for every consumer of ``value``: the model sees the
same weights for an event without value whether it was trained from a file or scored
from events the service stored (where the value is None)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from driftrec.data.dataset import Histories
from driftrec.data.readers import load_dataset
from driftrec.interest.config import InterestConfig
from driftrec.recommend.pipeline import model_history
from driftrec.store import StoredEvent


def test_a_missing_value_weighs_the_same_in_training_and_in_serving(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user,item,time,event_type,value\n"
                    "u1,a,1,rating,5\nu1,b,2,rating,\nu1,c,3,click,\nu1,d,4,rating,1\n")
    ds, _ = load_dataset(path)
    offline = Histories.from_events(ds.events)
    stored = [StoredEvent(item, kind, value, t) for item, kind, value, t in
              [("a", "rating", 5.0, 1), ("b", "rating", None, 2), ("c", "click", None, 3),
               ("d", "rating", 1.0, 4)]]
    served = model_history(SimpleNamespace(item_pos={i: k for k, i in enumerate("abcd")}),
                           stored)

    cfg = InterestConfig()
    offline_w = cfg.event_weights(offline.event_types[0], offline.values[0])
    served_w = cfg.event_weights(served.event_types[0], served.values[0])
    np.testing.assert_allclose(offline_w, served_w)
    # ... and the same as the live interest update's weight of each event
    live = [cfg.event_weight(e.event_type, e.value) for e in stored]
    np.testing.assert_allclose(served_w, live)
    # no value: the rating's type weight (1), not one star (0.1)
    assert list(served_w) == [1.0, 1.0, 1.0, 0.1]
