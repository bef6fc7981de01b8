"""SQLite writers of several processes queue on one lock and wake as soon as it is free."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path

from driftrec.store.writelock import WriterLock


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
