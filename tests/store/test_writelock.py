"""SQLite writers of several processes queue on one lock and wake as soon as it is free."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path

import pytest

from driftrec.store import NewEvent, Store, migrations
from driftrec.store.writelock import WriterLock, mark_changed


def _hold(database: str, log: str, held, release) -> None:
    with WriterLock(database):
        held.set()
        release.wait(10)
        time.sleep(0.1)  # still inside: a writer that did not wait would log first
        with Path(log).open("a") as f:
            f.write("other process done\n")


def test_a_writer_waits_for_another_process_holding_the_lock(tmp_path):
    database, log = str(tmp_path / "store.db"), str(tmp_path / "order.log")
    ctx = mp.get_context("spawn")
    held, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold, args=(database, log, held, release))
    other.start()
    try:
        assert held.wait(60), "the other process never took the lock"
        lock = WriterLock(database)
        release.set()
        with lock, Path(log).open("a") as f:
            f.write("this process\n")
        lock.close()
    finally:
        other.join(30)
    assert Path(log).read_text().splitlines() == ["other process done", "this process"]


def test_threads_of_one_process_take_turns(tmp_path):
    lock, inside, most = WriterLock(tmp_path / "store.db"), [], []

    def write() -> None:
        for _ in range(50):
            with lock:
                inside.append(1)
                most.append(len(inside))
                inside.pop()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(most) == 1 and len(most) == 200


def _bump_times(database: str, times: int) -> None:
    lock = WriterLock(database)
    for _ in range(times):
        with lock:
            lock.bump()
    lock.close()


def test_the_change_count_is_shared_by_every_process_on_the_database(tmp_path):
    database = str(tmp_path / "store.db")
    lock = WriterLock(database)
    assert lock.changes() == 0  # a new database
    with lock:
        assert lock.bump() == (0, 1)

    ctx = mp.get_context("spawn")
    other = ctx.Process(target=_bump_times, args=(database, 5))
    other.start()
    other.join(60)
    assert other.exitcode == 0
    assert lock.changes() == 6  # read from shared memory, no reopen
    assert WriterLock(database).changes() == 6
    lock.close()


def test_every_write_transaction_of_a_store_raises_the_count_and_reads_do_not(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", id_secret="s")
    start = store.change_count()
    store.add_events([NewEvent("ann", "film", "click", None, 1_700_000_000)])
    assert store.change_count() == start + 1
    assert store.last_change() == (start, start + 1)
    store.user_events(store.user_key("ann"))
    store.meta_values()
    assert store.change_count() == start + 1
    store.close()


def test_a_write_that_changes_nothing_readers_keep_leaves_the_count_alone(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", id_secret="s")
    start = store.change_count()
    with store.transaction(changes=False) as conn, conn.begin():
        pass  # e.g. served lists, feedback counts, a segment version
    assert store.change_count() == start
    with store.transaction(changes=False) as conn, conn.begin():
        mark_changed(conn)  # e.g. new active fusion weights
    assert store.change_count() == start + 1
    store.close()


def test_a_build_from_before_the_change_count_refuses_the_database(tmp_path, monkeypatch):
    """It would write without raising the count, and other processes would keep serving
    what they hold: the schema version it does not know stops it at start-up."""
    Store(f"sqlite:///{tmp_path / 'store.db'}", id_secret="s").close()
    monkeypatch.setattr(migrations, "LATEST_VERSION", 9)
    with pytest.raises(RuntimeError, match="newer than this driftrec"):
        Store(f"sqlite:///{tmp_path / 'store.db'}", id_secret="s")
