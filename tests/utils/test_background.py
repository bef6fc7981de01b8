"""The helper thread: results and errors come back to the caller, also in a forked child."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from driftrec.utils.background import in_background


def test_runs_on_another_thread_and_returns_its_result() -> None:
    running = in_background(lambda x: (x * 2, threading.current_thread().name), 21)
    value, thread = running.result(timeout=10)
    assert value == 42 and thread != threading.current_thread().name


def test_the_callers_error_is_raised_by_result() -> None:
    def fail() -> None:
        raise ValueError("bad history")

    with pytest.raises(ValueError, match="bad history"):
        in_background(fail).result(timeout=10)


def test_a_call_from_the_helper_itself_does_not_wait_for_itself() -> None:
    def outer() -> int:
        return in_background(sum, [1, 2]).result(timeout=5) + 1

    assert in_background(outer).result(timeout=10) == 4


def _child(out: multiprocessing.Queue) -> None:
    out.put(in_background(sum, [1, 2, 3]).result(timeout=10))


def test_a_forked_child_gets_a_helper_of_its_own() -> None:
    in_background(int).result(timeout=10)  # the parent's helper thread exists
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child, args=(out,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0 and out.get(timeout=5) == 6
