"""Concurrent requests' model scoring, done together and off the event loop.

A recommendation for a user whose context is in memory costs well under a millisecond;
one right after the user's event needs the model's scores afresh, which costs tens of
times more. Served inline on the event loop, that computation holds up every request
behind it. :class:`ScoringQueue` runs it in a worker thread instead, and scores whatever
histories arrived while the previous batch ran as one batch: a batch of eight costs far
less than eight single histories (one forward pass of the network, one matrix product
per signal). There is no fixed wait: a lone request is scored at once, alone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import numpy as np

from driftrec.data.dataset import Histories
from driftrec.recommend.models import LoadedModel
from driftrec.recommend.scores import ModelScores, model_scores_batch

log = logging.getLogger(__name__)

#: The most histories scored in one batch.
MAX_BATCH = 16


def concat_histories(parts: list[Histories]) -> Histories:
    """One batch of the rows of ``parts``, in order."""
    return Histories(users=np.concatenate([h.users for h in parts]),
                     items=[x for h in parts for x in h.items],
                     timestamps=[x for h in parts for x in h.timestamps],
                     values=[x for h in parts for x in h.values],
                     event_types=[x for h in parts for x in h.event_types])


@dataclass
class _Request:
    loaded: LoadedModel
    history: Histories
    done: asyncio.Future


class ScoringQueue:
    """Scores one-row histories for the event loop's requests, batched (see the module)."""

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._waiting: list[_Request] = []
        self._drainer: asyncio.Task | None = None
        #: Batches scored and histories scored (their ratio is the mean batch size).
        self.batches = 0
        self.scored = 0

    async def score(self, loaded: LoadedModel, history: Histories) -> ModelScores | None:
        """The model's scores for ``history`` (what ``pipeline.model_scores`` returns)."""
        loop = asyncio.get_running_loop()
        request = _Request(loaded, history, loop.create_future())
        self._waiting.append(request)
        drainer = self._drainer
        if drainer is None or drainer.done() or drainer.get_loop() is not loop:
            # (a drainer of another loop died with its loop: a test client's, say)
            self._drainer = loop.create_task(self._drain())
        return await request.done

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._waiting = [r for r in self._waiting if r.done.get_loop() is loop]
            if not self._waiting:
                return
            batch = self._waiting[:self.max_batch]
            del self._waiting[:len(batch)]
            try:
                results = await loop.run_in_executor(None, _score_batch, batch)
            except Exception as exc:  # every request of the batch gets the error
                for r in batch:
                    if not r.done.done():
                        r.done.set_exception(exc)
                continue
            self.batches += 1
            self.scored += len(batch)
            for r, result in zip(batch, results, strict=True):
                if not r.done.done():  # its request may have been cancelled
                    r.done.set_result(result)


def _score_batch(batch: list[_Request]) -> list[ModelScores | None]:
    """Scores of each request's history, one model call per loaded model in the batch."""
    results: list[ModelScores | None] = [None] * len(batch)
    groups: dict[int, list[int]] = {}
    for i, r in enumerate(batch):
        groups.setdefault(id(r.loaded), []).append(i)
    for rows in groups.values():
        scored = model_scores_batch(batch[rows[0]].loaded.model,
                                    concat_histories([batch[i].history for i in rows]))
        for i, result in zip(rows, scored, strict=True):
            results[i] = result
    return results
