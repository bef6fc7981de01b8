"""Group commit: what shares a transaction, and what waits for what."""

from __future__ import annotations

import time

from driftrec.service.ingest import GroupCommitter


class RecordingStore:
    """Stands in for the store: remembers each transaction's groups and impressions."""

    def __init__(self) -> None:
        self.commits: list[tuple[int, list[dict]]] = []

    def add_event_groups(self, groups, updater, impressions, written):
        self.commits.append((len(groups), list(impressions)))
        return [(len(g), 0) for g in groups]


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_served_lists_are_written_together_after_the_linger():
    store = RecordingStore()
    writer = GroupCommitter(store, lambda vectors, events: None, linger_s=0.2)
    try:
        for n in range(5):
            writer.record([{"recommendation_id": str(n)}])
        wait_for(lambda: store.commits)
        # one transaction for all five lists, not five, and no request in it
        assert store.commits == [(0, [{"recommendation_id": str(n)} for n in range(5)])]
    finally:
        writer.close()


def test_a_waiting_request_does_not_wait_for_the_linger_and_keeps_the_order():
    store = RecordingStore()
    writer = GroupCommitter(store, lambda vectors, events: None, linger_s=30.0)
    try:
        writer.record([{"recommendation_id": "shown-first"}])
        started = time.monotonic()
        writer.flush()  # a request that waits: committed now, with the list before it
        assert time.monotonic() - started < 5.0
        assert store.commits == [(1, [{"recommendation_id": "shown-first"}])]
    finally:
        writer.close()


def test_closing_writes_what_lingers():
    store = RecordingStore()
    writer = GroupCommitter(store, lambda vectors, events: None, linger_s=30.0)
    writer.record([{"recommendation_id": "last"}])
    writer.close()
    assert store.commits == [(0, [{"recommendation_id": "last"}])]
