"""One helper thread per process, for work that can run beside the caller's.

Scoring one user right after their event runs the sequence network (PyTorch, which lets go
of the interpreter lock while it computes) and the content model's per-user work (NumPy);
neither needs the other's result until the end, so the network runs here, on the second
core, while the caller does the rest.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_here = threading.local()  # ``helper`` is set on the helper thread


def in_background(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
    """``fn(*args, **kwargs)`` on the helper thread; ``.result()`` waits for it (and
    raises what it raised). Calls from several threads queue for the one helper; a call
    from the helper itself runs at once, where it would otherwise wait for itself."""
    global _pool
    if getattr(_here, "helper", False):
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller by result(), as the pool does
            done.set_exception(exc)
        return done
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(1, thread_name_prefix="driftrec-background",
                                           initializer=_mark_helper)
    return _pool.submit(fn, *args, **kwargs)


def _mark_helper() -> None:
    _here.helper = True


def _forget_pool() -> None:
    """A forked child has no helper thread of its own: make a new one when first asked."""
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)
