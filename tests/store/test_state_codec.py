"""The binary state format, and states stored as JSON before it (schema version 4)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text, update

from driftrec.interest.state import Event, new_state
from driftrec.interest.state import update as apply_event
from driftrec.store import NewEvent, Store, tables
from driftrec.store.codec import StateCodecError, decode_state, encode_state, plain
from driftrec.store.migrations import LATEST_VERSION
from driftrec.web.queries import user_drifts


def interest_state(n: int = 30, dim: int = 16):
    rng = np.random.default_rng(0)
    s = new_state("u", dim)
    for i in range(n):
        apply_event(s, Event("u", f"i{i % 7}", float(i * 3600), "rating", 4.0),
                    rng.normal(size=dim))
    return s


def test_arrays_round_trip_bit_for_bit_and_come_back_writable():
    state = {"a": np.arange(5, dtype=np.float64) / 3, "b": np.ones(3, dtype=np.float32),
             "nested": [{"total": np.array([1.5, -2.0]), "items": ["x"]}],
             "recent": [["i1", 1.0, "click", None, 1.0]], "n": 3, "none": None}
    back = decode_state(encode_state(state))
    assert back["a"].dtype == np.float64 and np.array_equal(back["a"], state["a"])
    assert back["b"].dtype == np.float32 and np.array_equal(back["b"], state["b"])
    assert np.array_equal(back["nested"][0]["total"], [1.5, -2.0])
    assert back["recent"] == state["recent"] and back["n"] == 3 and back["none"] is None
    back["a"] *= 2  # writable
    assert plain(back)["nested"][0]["total"] == [1.5, -2.0]


def test_an_interest_state_is_several_times_smaller_than_its_json():
    s = interest_state(200, 384)
    blob = encode_state(s.to_dict(arrays=np.float32))
    import orjson

    assert len(blob) * 3 < len(orjson.dumps(s.to_dict()))
    back = new_state("u", 384).from_dict(decode_state(blob))
    np.testing.assert_allclose(back.long_sum, s.long_sum, rtol=1e-6)
    assert back.recent == s.recent and back.clock == s.clock


def test_bytes_of_another_format_are_refused():
    with pytest.raises(StateCodecError):
        decode_state(b'{"n": 1}')


def counting(key, state, new):
    state = state or {"n": 0}
    return {"n": state["n"] + len(new), "vec": np.full(4, float(state["n"] + len(new))),
            "drift": 0.25}


def test_a_state_stored_as_json_before_version_5_is_read_and_rewritten(store_url):
    store = Store(store_url, "secret")
    store.add_events([NewEvent("old", "a", "click", 1.0, 1)], counting)
    key = store.user_key("old")
    # a row as schema version 4 wrote it: the state as JSON, no binary form
    with store.transaction() as conn, conn.begin():
        conn.execute(update(tables.user_state).where(tables.user_state.c.user_key == key)
                     .values(state={"n": 7, "vec": [7.0] * 4, "drift": 0.5},
                             state_blob=None, drift=None))
    assert store.get_state(key) == ({"n": 7, "vec": [7.0] * 4, "drift": 0.5}, 1)
    assert store.user_snapshot(key, 10).state["n"] == 7
    assert user_drifts(store)[key] == 0.5  # read from the JSON
    store.add_events([NewEvent("old", "b", "click", 1.0, 2)], counting)
    state, n = store.get_state(key)
    assert state["n"] == 8 and n == 2 and np.array_equal(state["vec"], [8.0] * 4)
    assert user_drifts(store)[key] == 0.25  # the column
    assert store.export_user(key)["interest_state"]["vec"] == [8.0] * 4  # JSON-ready


def test_a_database_without_migration_5_is_migrated_and_its_states_still_read(store_url):
    store = Store(store_url, "secret")
    store.add_events([NewEvent("u", "a", "click", 1.0, 1)], counting)
    key = store.user_key("u")
    with store.transaction() as conn, conn.begin():
        conn.execute(update(tables.user_state).values(state={"n": 3, "drift": 0.1}))
        conn.execute(text("ALTER TABLE user_state DROP COLUMN state_blob"))
        conn.execute(text("ALTER TABLE user_state DROP COLUMN drift"))
        conn.execute(text("DELETE FROM schema_version WHERE version = 5"))  # 6 stays
    store.close()
    again = Store(store_url, "secret")
    assert again.schema_version == LATEST_VERSION
    assert again.get_state(key) == ({"n": 3, "drift": 0.1}, 1)
    assert [k for k, _ in again.iter_states()] == [key]
