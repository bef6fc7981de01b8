"""``POST /v1/events``: durable, idempotent event ingestion with live interest updates."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request

from driftrec.service.auth import require_admin
from driftrec.service.core import ServiceCore
from driftrec.service.routes.deps import check_id, check_text, process_core, reject
from driftrec.service.schemas import EventBatch, EventsAccepted
from driftrec.service.validation import ErrorOut
from driftrec.store import EventIdConflict, NewEvent

router = APIRouter(prefix="/v1", tags=["events"])


@router.post("/events", response_model=EventsAccepted, dependencies=[Depends(require_admin)],
             responses={409: {"model": ErrorOut, "description": "an event_id reused by its "
                              "user for a different event; nothing was stored"}},
             summary="Record one or many events")
async def post_events(batch: EventBatch, request: Request,
                      c: ServiceCore = Depends(process_core)) -> EventsAccepted:
    """Store the events and update each user's interest state before answering.

    ``event_id`` is an idempotency key scoped to the user: a retry with the same payload is
    counted in ``duplicates`` and not stored again, so a client may resend a batch whose
    answer it never saw. Reusing a user's ``event_id`` for a different event answers 409
    naming the field, and nothing of that request is stored.

    What other processes changed (items, model) is pulled by the event writer before it
    commits (``ServiceCore._commit_updater``), not here.
    """
    if len(batch.events) > c.settings.max_batch_events:
        raise reject("body.events", f"at most {c.settings.max_batch_events} events per request",
                     413)
    now = int(time.time())
    events = []
    for i, e in enumerate(batch.events):
        check_id(c, f"body.events.{i}.user_id", e.user_id)
        check_id(c, f"body.events.{i}.item_id", e.item_id)
        check_id(c, f"body.events.{i}.event_id", e.event_id)
        check_text(c, f"body.events.{i}.text", e.text)
        events.append(NewEvent(
            user_id=e.user_id, item_id=e.item_id, event_type=e.event_type,
            value=None if e.value is None else float(e.value),
            timestamp=now if e.timestamp is None else int(e.timestamp),
            text=e.text or None, event_id=e.event_id,
            client_timestamp=e.timestamp is not None,
            recommendation_id=e.recommendation_id))
    try:
        accepted, duplicates = await c.ingest_async(events)
    except EventIdConflict as conflict:
        raise reject(f"body.events.{conflict.index}.event_id",
                     f"{conflict}; nothing in this request was stored", 409) from None
    metrics = request.app.state.metrics
    metrics.events.inc(accepted)
    metrics.duplicates.inc(duplicates)
    return EventsAccepted(accepted=accepted, duplicates=duplicates)
