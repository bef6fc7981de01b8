"""Bulk import of historical events into the service's store (``driftrec import``).

A service starts with its real users at once instead of replaying its history over HTTP:

1. **Read and check the whole file first.** The project's readers parse it
   (CSV/TSV/JSONL/Parquet/RecBole, or a dataset name such as ``ml-1m``); every row is then
   held to the API's rules (id and text lengths, event type, timestamp range, an
   ``event_id`` not reused by its user for another event, in the file or in the store).
   The first bad row stops the import with its file, line and field, before anything is
   written.
2. **Build states in batch with the live function.** Each user's events, in time order
   (a stable sort: ties keep file order), go through :meth:`ServiceCore.state_updater`
   (:func:`driftrec.recommend.interest.apply_events`, the served model's interest config,
   the catalogue's item vectors), continuing from the user's stored state; so a user ends
   up exactly as if the events had been posted one by one. With ``ray`` the states are
   built by Ray actors while this process writes (:mod:`driftrec.service.ray_states`).
3. **Write in transactions of whole users** (:meth:`Store.import_events`, about
   ``batch_rows`` events each). Ctrl-C or an error leaves whole committed batches only.

Idempotency: an ``event_id`` column makes a re-import add nothing. Events without one have
no idempotency key: importing the same file twice stores them twice (and moves the states
again); ``skip_existing_users`` leaves out every user who already has a stored state, which
also resumes an interrupted import.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from driftrec.data import movielens
from driftrec.data.cleaning import LINE, validate_events
from driftrec.data.errors import DataError
from driftrec.data.readers import read_events
from driftrec.data.schema import (
    DEFAULT_EVENT_TYPE,
    EVENT_TYPE,
    ITEM_ID,
    TEXT,
    TIMESTAMP,
    USER_ID,
    VALUE,
)
from driftrec.service.schemas import MAX_TIMESTAMP
from driftrec.store import EventIdConflict, NewEvent
from driftrec.store.store import ImportCounts

if TYPE_CHECKING:
    from driftrec.service.core import ServiceCore

log = logging.getLogger(__name__)

#: The optional column whose values are client event ids (idempotency keys).
EVENT_ID = "event_id"
#: Events per write transaction (whole users: a user is never split).
BATCH_ROWS = 20_000
_EVENT_TYPE_MAX = 32
_EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*$"
_MAX_VALUE = 1e9
_TEXT_BATCH = 256

#: ``progress(stage, done, total)``; stages: ``"encode"`` (event texts), ``"import"``.
Progress = Callable[[str, int, int], None]


class PartialImport(DataError):
    """Bad input found while writing (an ``event_id`` another writer stored meanwhile):
    the batch was rolled back, earlier batches stay committed."""


@dataclass
class ImportSummary:
    """What an import did (committed batches only when ``interrupted``)."""

    source: str
    rows: int = 0  #: events in the file
    events: int = 0  #: events stored
    duplicates: int = 0  #: events with an ``event_id`` already stored
    users: int = 0  #: users whose interest state was written
    skipped_users: int = 0
    skipped_events: int = 0
    no_vector_events: int = 0  #: stored, but their item has no text vector in the store
    batches: int = 0
    ray_users: int = 0  #: users whose state was built on Ray (the rest in this process)
    seconds: float = 0.0
    read_seconds: float = 0.0
    interrupted: bool = False
    counts: ImportCounts = field(default_factory=ImportCounts, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("counts")
        return out


@dataclass
class ImportFile:
    """A checked events file: schema columns, ``_line`` and, when given, ``event_id``."""

    source: str
    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)


def read_import_file(source: str | Path, *, max_id_length: int = 128,
                     max_text_length: int = 4000) -> ImportFile:
    """Read and check a whole events file (or a dataset name such as ``ml-1m``).

    Raises :class:`DataError` naming file, line and field at the first row the API would
    reject too. Nothing is written.
    """
    name = str(source)
    if name in movielens.DATASETS:
        if not movielens.is_fetched(name):
            movielens.fetch(name)
        reader = movielens.read_ml1m if name == "ml-1m" else movielens.read_ml100k
        raw = reader(movielens.dataset_dir(name))[0]
        raw[LINE] = np.arange(1, len(raw) + 1)  # ratings.dat / u.data have no header
        path = str(movielens.dataset_dir(name) / movielens.DATASETS[name][0])
        frame, _ = validate_events(raw, source=path, strict=True, keep=(LINE,),
                                   value_dtype=np.float64)
    else:
        path = name
        # values as given (float64): the API stores them so too
        frame, _ = read_events(path, strict=True, keep=(LINE, EVENT_ID),
                               value_dtype=np.float64)
    _check(frame, path, max_id_length, max_text_length)
    return ImportFile(path, frame)


def _fail_first(frame: pd.DataFrame, bad: np.ndarray, path: str, fld: str, problem: str,
                shown: pd.Series | None = None) -> None:
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    value = (shown if shown is not None else frame[fld]).iloc[i]
    raise DataError(f"{problem} (got {value!r})", path=path, line=int(frame[LINE].iloc[i]),
                    field=fld)


def _optional_strings(values: pd.Series) -> pd.Series:
    """Strings with blanks (and NaN/None) as None."""
    out = values.astype(object).where(values.notna(), None)
    out = out.map(lambda v: None if v is None or str(v).strip() == "" else str(v))
    return out


def _check(frame: pd.DataFrame, path: str, max_id: int, max_text: int) -> None:
    """Hold every row to the API's rules; normalise optional columns in place."""
    if TIMESTAMP not in frame.columns:
        raise DataError("no timestamp column: imported events need their time (unix "
                        "seconds or ISO-8601)", path=path, field=TIMESTAMP)
    for fld in (USER_ID, ITEM_ID):
        _fail_first(frame, (frame[fld].str.len() > max_id).to_numpy(), path, fld,
                    f"at most {max_id} characters")
    ts = frame[TIMESTAMP].to_numpy()
    _fail_first(frame, (ts < 0) | (ts > MAX_TIMESTAMP), path, TIMESTAMP,
                f"must be between 0 and {MAX_TIMESTAMP} unix seconds")
    if EVENT_TYPE not in frame.columns:
        frame[EVENT_TYPE] = DEFAULT_EVENT_TYPE
    types = frame[EVENT_TYPE].astype(str)
    bad = ~types.str.fullmatch(_EVENT_TYPE_PATTERN) | (types.str.len() > _EVENT_TYPE_MAX)
    _fail_first(frame, bad.to_numpy(), path, EVENT_TYPE,
                f"must be a lower-case word (letters, digits, _), at most {_EVENT_TYPE_MAX} "
                f"characters")
    if VALUE in frame.columns:
        _fail_first(frame, (frame[VALUE].abs() > _MAX_VALUE).to_numpy(), path, VALUE,
                    f"must be between {-_MAX_VALUE:g} and {_MAX_VALUE:g}")
    if TEXT in frame.columns:
        frame[TEXT] = _optional_strings(frame[TEXT])
        _fail_first(frame, frame[TEXT].map(lambda v: v is not None and len(v) > max_text)
                    .to_numpy(dtype=bool), path, TEXT, f"at most {max_text} characters",
                    shown=frame[TEXT].map(lambda v: v[:40] + "..." if v else v))
    if EVENT_ID in frame.columns:
        frame[EVENT_ID] = _optional_strings(frame[EVENT_ID])
        ids = frame[EVENT_ID]
        _fail_first(frame, ids.map(lambda v: v is not None and len(v) > max_id)
                    .to_numpy(dtype=bool), path, EVENT_ID, f"at most {max_id} characters")
        _check_reused_ids(frame, path)


def _check_reused_ids(frame: pd.DataFrame, path: str) -> None:
    """An ``event_id`` a user repeats in the file must name the same event (a retry)."""
    has = frame[EVENT_ID].notna()
    if not has.any():
        return
    keyed = frame.loc[has]
    dup = keyed.duplicated([USER_ID, EVENT_ID], keep=False)
    if not dup.any():
        return
    for _, rows in keyed.loc[dup].groupby([USER_ID, EVENT_ID], sort=False):
        prints = [_event(r).fingerprint() for r in rows.to_dict("records")]
        for j in range(1, len(prints)):
            if prints[j] != prints[0]:
                raise DataError(
                    f"event_id {rows[EVENT_ID].iloc[j]!r} was used by this user on line "
                    f"{int(rows[LINE].iloc[0])} for a different event; use a new event_id "
                    f"for a new event", path=path, line=int(rows[LINE].iloc[j]),
                    field=EVENT_ID)


def _value(value: Any) -> float | None:
    """A file's value as the API has it: missing (a blank cell, NaN) is None."""
    return None if value is None or value != value else float(value)


def _event(row: dict[str, Any]) -> NewEvent:
    return NewEvent(
        user_id=str(row[USER_ID]), item_id=str(row[ITEM_ID]),
        event_type=str(row[EVENT_TYPE]),
        value=_value(row.get(VALUE)),
        timestamp=int(row[TIMESTAMP]), text=row.get(TEXT), event_id=row.get(EVENT_ID))


def _user_groups(frame: pd.DataFrame) -> tuple[Iterator[tuple[str, list[NewEvent]]],
                                               np.ndarray]:
    """Each user's events in time order (ties in file order), users in order of first
    appearance; also the file lines in that order (to name the line of a late error)."""
    if frame.empty:
        return iter(()), frame[LINE].to_numpy()
    codes, _ = pd.factorize(frame[USER_ID], sort=False)
    ts = frame[TIMESTAMP].to_numpy()
    order = np.lexsort((np.arange(len(frame)), ts, codes))
    codes = codes[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(order)]])
    cols: dict[str, Any] = {
        c: frame[c].to_numpy(dtype=object)[order]
        for c in (USER_ID, ITEM_ID, EVENT_TYPE, TEXT, EVENT_ID) if c in frame.columns}
    tss = ts[order]
    values = ([_value(v) for v in frame[VALUE].to_numpy(dtype=np.float64)[order].tolist()]
              if VALUE in frame.columns else None)
    none: list[None] = [None] * int(max(ends - starts, default=0))

    def groups() -> Iterator[tuple[str, list[NewEvent]]]:
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            n = b - a
            items = cols[ITEM_ID][a:b].tolist()
            types = cols[EVENT_TYPE][a:b].tolist()
            times = tss[a:b].tolist()
            vals = values[a:b] if values is not None else none[:n]
            texts = cols[TEXT][a:b].tolist() if TEXT in cols else none[:n]
            ids = cols[EVENT_ID][a:b].tolist() if EVENT_ID in cols else none[:n]
            user = str(cols[USER_ID][a])
            yield user, [NewEvent(user, it, ty, va, tm, tx, ei)
                         for it, ty, va, tm, tx, ei in zip(items, types, vals, times, texts,
                                                           ids, strict=True)]

    return groups(), frame[LINE].to_numpy()[order]


def _check_stored_ids(core: ServiceCore, frame: pd.DataFrame, path: str) -> None:
    """No ``event_id`` in the file may name another event its user stored before."""
    if EVENT_ID not in frame.columns or frame[EVENT_ID].isna().all():
        return
    keyed = frame.loc[frame[EVENT_ID].notna()]
    ids = core.store.ids
    user_keys: dict[str, str] = {}
    keys = []
    for user, eid in zip(keyed[USER_ID].tolist(), keyed[EVENT_ID].tolist(), strict=True):
        key = user_keys.get(user)
        if key is None:
            key = user_keys[user] = ids.user_key(user)
        keys.append(ids.event_key(key, eid))
    stored = core.store.stored_fingerprints(keys)
    if not stored:
        return
    for key, row in zip(keys, keyed.to_dict("records"), strict=True):
        if key in stored and stored[key] not in (None, _event(row).fingerprint()):
            raise DataError(f"event_id {row[EVENT_ID]!r} was already stored for this user "
                            f"with a different event; use a new event_id for a new event",
                            path=path, line=int(row[LINE]), field=EVENT_ID)


def _text_vectors(core: ServiceCore, frame: pd.DataFrame,
                  progress: Progress | None) -> dict[str, np.ndarray]:
    """Vectors of the events' own texts (searches, reviews), as the live path makes them."""
    if TEXT not in frame.columns:
        return {}
    texts = sorted({t for t in frame[TEXT].tolist() if t})
    vecs: dict[str, np.ndarray] = {}
    for start in range(0, len(texts), _TEXT_BATCH):
        part = texts[start:start + _TEXT_BATCH]
        vecs.update(zip(part, core.encoder.encode(part), strict=True))
        if progress is not None:
            progress("encode", start + len(part), len(texts))
    return vecs


def import_events(core: ServiceCore, source: str | Path, *, batch_rows: int = BATCH_ROWS,
                  skip_existing_users: bool = False, progress: Progress | None = None,
                  ray: str | None = None, ray_workers: int = 2) -> ImportSummary:
    """Import an events file (or dataset name) into ``core``'s store; see module docstring.

    ``ray`` (``auto``, ``local`` or a cluster address) builds the states on ``ray_workers``
    Ray actors (:mod:`driftrec.service.ray_states`); the result is the same.

    Returns the summary; on Ctrl-C it returns what was committed, with ``interrupted`` set.
    Raises :class:`DataError` (file, line, field) for bad input: nothing is written then;
    :class:`PartialImport` when another writer stores a conflicting ``event_id`` during
    the import (that batch is rolled back; earlier batches stay).
    """
    t0 = time.perf_counter()
    settings = core.settings
    data = read_import_file(source, max_id_length=settings.max_id_length,
                            max_text_length=settings.max_text_length)
    frame, path = data.frame, data.source
    summary = ImportSummary(source=path, rows=len(frame))
    _check_stored_ids(core, frame, path)
    core.refresh()  # items and model other processes changed
    catalogue = core.catalogue
    with_vector = {i for i, has in zip(catalogue.ids, catalogue.has_vector.tolist(),
                                       strict=True) if has}
    summary.no_vector_events = int((~frame[ITEM_ID].isin(with_vector)).sum())
    if summary.no_vector_events:
        log.warning("%d of %d events name items with no text vector in the store: they are "
                    "stored but do not move interest states (load the items first: "
                    "--model-dir with a trained bundle, or PUT /v1/items)",
                    summary.no_vector_events, len(frame))
    vecs = _text_vectors(core, frame, progress)
    summary.read_seconds = time.perf_counter() - t0
    log.info("%s: %d events of %d users checked in %.1fs", path, len(frame),
             frame[USER_ID].nunique(), summary.read_seconds)

    # the live path's updater (load_state, apply_events, the served interest config),
    # called once per user with all of the user's imported events; it keeps no states
    # (memory stays flat however many users the file holds)
    update = core.state_updater(vecs, keep=False)
    groups, lines = _user_groups(frame)
    builder = None
    if ray is not None:
        from driftrec.service.ray_states import RayStateBuilder

        builder = RayStateBuilder(update, core.catalogue, vecs, core.interest_config,
                                  core.store.ids.user_key, address=ray, workers=ray_workers,
                                  chunk_rows=batch_rows)
        update, groups = builder, builder.ahead(groups)

    def on_batch(counts: ImportCounts) -> None:
        summary.counts = ImportCounts(**asdict(counts))
        if progress is not None:
            progress("import", counts.rows, len(frame))

    if progress is not None:
        progress("import", 0, len(frame))
    try:
        core.store.import_events(groups, update, batch_rows=batch_rows,
                                 skip_existing_users=skip_existing_users, on_batch=on_batch)
    except KeyboardInterrupt:
        summary.interrupted = True
        log.warning("import interrupted: %d events of %d users committed in %d whole "
                    "batches, nothing else; run it again with --skip-existing-users to "
                    "import the rest", summary.counts.events, summary.counts.users,
                    summary.counts.batches)
    except EventIdConflict as conflict:
        done = summary.counts
        raise PartialImport(f"{conflict} (another writer stored it during the import; "
                        f"{done.events} events of {done.users} users in earlier batches "
                        f"stay imported)", path=path, line=int(lines[conflict.index]),
                        field=EVENT_ID) from None
    finally:
        if builder is not None:
            builder.close()
    counts = summary.counts
    summary.events, summary.duplicates, summary.users = (counts.events, counts.duplicates,
                                                         counts.users)
    summary.skipped_users, summary.skipped_events = counts.skipped_users, counts.skipped_events
    summary.batches = counts.batches
    if builder is not None:
        summary.ray_users = builder.built_ahead
    summary.seconds = time.perf_counter() - t0
    log.info("imported %d events (%d duplicates, %d skipped) of %d users in %.1fs",
             summary.events, summary.duplicates, summary.skipped_events, summary.users,
             summary.seconds)
    return summary
