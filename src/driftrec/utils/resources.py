"""Wall time and peak resident memory of a block of work, for benchmark tables."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil


@dataclass
class Usage:
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    delta_rss_mb: float = 0.0


class measure:
    """``with measure() as usage: ...`` samples RSS in a thread (every 20 ms) so that
    allocations outside Python's allocator (BLAS, PyTorch) are counted too."""

    def __init__(self, interval: float = 0.02) -> None:
        self.usage = Usage()
        self._interval = interval
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            rss = self._proc.memory_info().rss / 2**20
            self.usage.peak_rss_mb = max(self.usage.peak_rss_mb, rss)

    def __enter__(self) -> Usage:
        self._start_rss = self._proc.memory_info().rss / 2**20
        self.usage.peak_rss_mb = self._start_rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._t0 = time.perf_counter()
        return self.usage

    def __exit__(self, *exc) -> None:
        self.usage.seconds = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        rss = self._proc.memory_info().rss / 2**20
        self.usage.peak_rss_mb = max(self.usage.peak_rss_mb, rss)
        self.usage.delta_rss_mb = self.usage.peak_rss_mb - self._start_rss
