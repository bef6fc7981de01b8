"""The relational schema, in SQLAlchemy Core; the same tables on SQLite and PostgreSQL.

User ids never appear here: ``user_key`` is the keyed hash from :mod:`.pseudonym`, and the
client's ``event_id`` is kept only as a keyed hash scoped to the user (``event_key``) for
idempotent retries, beside a digest of the event's payload (``fingerprint``) that tells a
retry from the reuse of an id for another event.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("description", String(200), nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)

#: Small shared counters and settings every process reads (catalogue sequence, model).
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("event_key", String(64), nullable=True, unique=True),
    Column("user_key", String(64), nullable=False),
    Column("item_id", String(256), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("value", Float, nullable=True),
    Column("ts", BigInteger, nullable=False),
    Column("text", Text, nullable=True),
    Column("received_at", BigInteger, nullable=False),
    Column("fingerprint", String(64), nullable=True),
    #: The served list this event answers, when the client says so (explicit attribution).
    Column("recommendation_id", String(32), nullable=True),
    Index("ix_events_user_ts", "user_key", "ts", "id"),
    Index("ix_events_item", "item_id"),
)

items = Table(
    "items",
    metadata,
    Column("item_id", String(256), primary_key=True),
    Column("title", Text, nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("hidden", Boolean, nullable=False, default=False),
    Column("embedding", LargeBinary, nullable=True),
    Column("encoder", String(200), nullable=True),  # embedding key: "<encoder>#<text rule>"
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_items_seq", "seq"),
)

user_state = Table(
    "user_state",
    metadata,
    Column("user_key", String(64), primary_key=True),
    #: The state as JSON: rows written before schema version 5 (newer rows hold ``{}``).
    Column("state", JSON, nullable=False),
    #: The state in the compact binary format of :mod:`driftrec.store.codec` (version 5 on).
    Column("state_blob", LargeBinary, nullable=True),
    #: The state's ``drift`` value, for queries over all users (the dashboard).
    Column("drift", Float, nullable=True),
    Column("n_events", BigInteger, nullable=False, default=0),
    Column("updated_at", BigInteger, nullable=False),
    #: A new random token on every write: a process holding the user in memory compares it
    #: (one primary-key read) to know whether another process changed the user since.
    Column("revision", String(32), nullable=False, server_default=""),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("version", String(200), primary_key=True),
    Column("path", Text, nullable=False),
    Column("name", String(100), nullable=False),
    Column("loaded_at", BigInteger, nullable=False),
)

#: What a served list showed (one row per response): the feedback loop's impressions.
impressions = Table(
    "impressions",
    metadata,
    Column("recommendation_id", String(32), primary_key=True),
    Column("user_key", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("weights_version", Integer, nullable=False),
    #: ``[[item_id, position], ...]`` in list order (rows written before schema version 9
    #: carry each item's features as a third element instead of ``features``).
    Column("items", JSON, nullable=False),
    #: The shown items' standardised features: a float32 matrix (one row per item, NaN
    #: where an item has none) as raw little-endian bytes; null when no item has any.
    Column("features", LargeBinary, nullable=True),
    Column("labelled", Boolean, nullable=False, default=False),
    Index("ix_impressions_user", "user_key", "created_at"),
    Index("ix_impressions_due", "labelled", "created_at"),
    Index("ix_impressions_created", "created_at"),  # retention: oldest first
)

#: Versions of the fused model's weights W learned online; the active one is in ``meta``.
fusion_weights = Table(
    "fusion_weights",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("model_version", String(200), nullable=False),
    Column("coef", JSON, nullable=False),
    Column("intercept", Float, nullable=False),
    Column("updates", Integer, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("stats", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

#: Per item: how often it was in a labelled impression and how often it was engaged
#: with, for exploration (``driftrec.feedback.explore``).
item_feedback = Table(
    "item_feedback",
    metadata,
    Column("item_id", String(512), primary_key=True),
    Column("shown", Integer, nullable=False),
    Column("engaged", Integer, nullable=False),
)

#: Versions of the shared user segmentation (``driftrec.recommend.segment_index``): every
#: process serves the newest ``ready`` one. A row is inserted as ``building`` by the one
#: process that wins the next version (primary key), then filled in.
segmentations = Table(
    "segmentations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),  # building | ready
    Column("kind", String(16), nullable=False),  # refit | follow
    Column("created_at", Float, nullable=False),
    Column("k", Integer, nullable=False, default=0),
    #: ``numpy.savez`` of centroids, segment ids, interest centroids and the space.
    Column("centroids", LargeBinary, nullable=True),
    #: One JSON-ready profile per segment (label, size, terms, exemplars, drift, top items).
    Column("profiles", JSON, nullable=False, default=list),
    #: How it was made: users, k criteria, seed, seconds, the version it was matched to.
    Column("stats", JSON, nullable=False, default=dict),
)

#: Size and drift of every segment in every segmentation version (the dashboard's history).
segment_history = Table(
    "segment_history",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("segment_id", Integer, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("users", Integer, nullable=False),
    Column("share", Float, nullable=False),
    Column("drift_median", Float, nullable=True),
    Column("label", Text, nullable=False, default=""),
)
