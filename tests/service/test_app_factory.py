"""The app a server process builds: start-up objects are out of the garbage collector's way."""

from __future__ import annotations

import gc

from service_helpers import SECRET

from driftrec.service.app import app_from_environment


def test_a_worker_app_freezes_its_start_up_heap(tmp_path, monkeypatch):
    # Full collections walked the half a million objects of a start-up heap (torch,
    # pandas, the catalogue) and stalled every request of the process for ~250 ms.
    monkeypatch.setenv("DRIFTREC_DATABASE_URL", f"sqlite:///{tmp_path / 'service.db'}")
    monkeypatch.setenv("DRIFTREC_ENCODER", "hashing")
    monkeypatch.setenv("DRIFTREC_ID_SECRET", SECRET)
    gc.unfreeze()
    try:
        app = app_from_environment()
        assert app.state.core is not None
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
        app.state.core.close()
