"""Full disk: a real ``driftrec serve`` on SQLite on a 16 MiB tmpfs takes events until the
disk is full. Then writes are refused with 507 naming the cause (not a 500, not a crash),
nothing refused is stored, every acknowledged event is stored (a resend of all of them is
all duplicates), reads still answer, and once there is room again writes are taken
without a restart and the database is intact.

The drill needs root (it mounts the tmpfs) and is skipped otherwise; about 15 s.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg.errors
import pytest
from service_helpers import server_process, synthetic_items

from driftrec.service.app import disk_full

pytestmark = pytest.mark.slow

PER_BATCH = 25
USERS = 8
TEXT_CHARS = 2000  # a ~2 KB text per event fills the disk in a few hundred requests
ITEMS = synthetic_items()["item_id"].tolist()


def mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs in ``tmp_path``, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the full-disk drill mounts a tmpfs, which needs root")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("the full-disk drill needs mount and umount")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = mount("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def batch_of(n: int) -> list[dict]:
    return [{"user_id": f"disk-{(n + j) % USERS}",
             "item_id": ITEMS[(n * PER_BATCH + j) % len(ITEMS)], "event_type": "review",
             "event_id": f"{n}-{j}", "timestamp": 1_700_000_000 + n,
             "text": f"{n}-{j} {secrets.token_hex(TEXT_CHARS // 2)}"} for j in range(PER_BATCH)]


def stored_ids(http: httpx.Client) -> set[str]:
    """The event ids stored for every user (each text starts with its event's id)."""
    out: set[str] = set()
    for u in range(USERS):
        response = http.get(f"/v1/users/disk-{u}/export")
        assert response.status_code == 200, response.text
        export = response.json()
        ids = [e["text"].split(" ", 1)[0] for e in export["events"]]
        assert len(ids) == len(set(ids)) == export["n_events"], "an event was stored twice"
        out |= set(ids)
    return out


def test_a_full_disk_refuses_writes_with_507_and_loses_nothing(small_disk: Path,
                                                                model_dir: Path,
                                                                tmp_path: Path) -> None:
    db = small_disk / "driftrec.db"
    acked: list[dict] = []
    refused: list[list[dict]] = []
    answers: list[httpx.Response] = []
    server = server_process(f"sqlite:///{db}", model_dir, tmp_path / "server.log")
    with server, httpx.Client(base_url=server.url, timeout=10.0) as http:
        deadline = time.monotonic() + 20
        n = 0
        while len(refused) < 3 and time.monotonic() < deadline:
            batch = batch_of(n)
            n += 1
            response = http.post("/v1/events", json={"events": batch})
            if response.status_code == 200:
                assert not refused, "a write after a refusal was taken on a full disk"
                assert response.json() == {"accepted": PER_BATCH, "duplicates": 0}
                acked.extend(batch)
            else:
                refused.append(batch)
                answers.append(response)
        print(f"{len(acked)} events acknowledged, then {[a.status_code for a in answers]}: "
              f"{answers[0].text if answers else ''}")
        assert refused, f"the disk never filled ({len(acked)} events taken)"
        assert len(acked) > 1000, "the disk filled before the service got going"
        for answer in answers:
            assert answer.status_code == 507, answer.text
            body = answer.json()
            assert "disk" in body["detail"] and "full" in body["detail"], body
        assert server.proc.poll() is None, "the server died on a full disk"

        # reads still answer, and show exactly the acknowledged events
        assert http.get("/health/live").status_code == 200
        assert http.get("/health/ready").status_code == 200
        item = http.get(f"/v1/items/{ITEMS[0]}")
        assert item.status_code == 200, item.text
        assert stored_ids(http) == {e["event_id"] for e in acked}, "stored differ from acked"
        # a served list is recorded (a small write): served, or refused the same way
        recs = http.get("/v1/users/disk-1/recommendations")
        assert recs.status_code in (200, 507), recs.text

        # room again (the operator cleans up): writes are taken without a restart
        grown = mount("-o", "remount,size=48m", str(small_disk))
        assert grown.returncode == 0, grown.stderr
        for start in range(0, len(acked), 200):
            chunk = acked[start:start + 200]
            response = http.post("/v1/events", json={"events": chunk})
            assert response.status_code == 200, response.text
            assert response.json() == {"accepted": 0, "duplicates": len(chunk)}
        for batch in refused:
            response = http.post("/v1/events", json={"events": batch})
            assert response.status_code == 200, response.text
            assert response.json() == {"accepted": PER_BATCH, "duplicates": 0}
        assert stored_ids(http) == {e["event_id"] for e in acked} | {
            e["event_id"] for batch in refused for e in batch}

    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "unhandled error" not in log and "Traceback" not in log, log[-3000:]


def test_a_full_disk_is_told_apart_from_a_database_away() -> None:
    """507 for a full disk on either backend (and ENOSPC), 503 for everything else."""
    assert disk_full(sqlite3.OperationalError("database or disk is full"))
    assert disk_full(psycopg.errors.DiskFull("could not extend file"))
    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not disk_full(sqlite3.OperationalError("database is locked"))
    assert not disk_full(psycopg.errors.OperationalError("connection refused"))
    assert not disk_full(OSError(errno.ECONNREFUSED, "Connection refused"))
    assert not disk_full(None)
