"""Writers that meet: event batches naming the same users in opposite orders (PostgreSQL
would deadlock if they locked users in batch order), and two processes migrating one fresh
database at once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from sqlalchemy import inspect, select

from driftrec.store import NewEvent, Store, tables
from driftrec.store.engine import make_engine
from driftrec.store.migrations import LATEST_VERSION


def ev(user: str, item: str, ts: int = 1) -> NewEvent:
    return NewEvent(user, item, "click", None, ts)


def counting(key, state, new):
    state = state or {"n": 0}
    return {"n": state["n"] + len(new)}


def test_batches_naming_users_in_opposite_orders_do_not_deadlock(postgres_url):
    """Two transactions each hold their first user's state row, then want the other's.

    The state updater runs while its user's row is locked; here it waits (up to 3 s) until
    the other transaction holds its first row too. Locking in batch order, each would then
    wait for the other: PostgreSQL aborts one with a deadlock. Locking in key order (the
    store's rule), the second transaction waits for the first user and never holds it."""
    store = Store(postgres_url, "secret")
    ann, bob = sorted(["ann", "bob"], key=store.user_key)  # the store's lock order
    for user in (ann, bob):  # existing state rows, locked with SELECT ... FOR UPDATE
        store.add_events([ev(user, "seed")], counting)
    batches = {"in key order": [ev(ann, "x", 2), ev(bob, "y", 2)],
               "reversed": [ev(bob, "x", 3), ev(ann, "y", 3)]}
    holds_first = {name: threading.Event() for name in batches}
    errors: list[BaseException] = []

    def write(name: str) -> None:
        other = next(n for n in batches if n != name)

        def update(key, state, new):
            if not holds_first[name].is_set():
                holds_first[name].set()
                holds_first[other].wait(timeout=3)
            return counting(key, state, new)

        try:
            store.add_events(batches[name], update)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    for user in (ann, bob):
        assert store.get_state(store.user_key(user)) == ({"n": 3}, 3)
    store.close()


MIGRATE = """
import sys, time
from driftrec.store.engine import make_engine
from driftrec.store.migrations import migrate
url, start = sys.argv[1], float(sys.argv[2])
engine = make_engine(url)
time.sleep(max(0.0, start - time.time()))  # both processes begin together
print(migrate(engine))
engine.dispose()
"""


def test_processes_migrating_a_fresh_database_at_once(store_url):
    """All finish at the latest version; each migration is applied exactly once. Four
    processes, because SQLite refuses all but one simultaneous switch of a fresh file to
    WAL: before that refusal was retried, four processes failed 3 rounds of 8 here."""
    start = time.time() + 4  # after both interpreters have imported driftrec
    procs = [subprocess.Popen([sys.executable, "-c", MIGRATE, store_url, str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [(*p.communicate(timeout=120), p.returncode) for p in procs]
    for out, err, code in results:
        assert code == 0, err[-2000:]
        assert out.split()[-1] == str(LATEST_VERSION)
    engine = make_engine(store_url)
    with engine.connect() as conn:
        applied = conn.execute(select(tables.schema_version.c.version)
                               .order_by(tables.schema_version.c.version)).scalars().all()
        names = set(inspect(conn).get_table_names())
    engine.dispose()
    assert applied == list(range(1, LATEST_VERSION + 1))
    assert {"events", "items", "user_state", "meta", "model_versions"} <= names
    Store(store_url, "secret").close()  # and the service opens it as it is
