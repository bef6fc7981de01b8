"""Request and response bodies of the REST API, with the limits and examples the OpenAPI
schema publishes. Hard caps live here; settings may lower them (checked in the handlers).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from driftrec.service.validation import Attributes, CleanStr

#: Hard upper bounds; ``Settings`` limits must not exceed these.
MAX_ID = 256
MAX_TEXT = 20_000
MAX_BATCH = 10_000
MAX_K = 1000
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z

ExternalId = Annotated[CleanStr, Field(min_length=1, max_length=MAX_ID, examples=["u1"])]


def _not_a_boolean(value: Any) -> Any:
    """JSON ``true``/``false`` is not a number, although pydantic would read it as 1 or 0."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


#: A number field of a request body that refuses booleans.
NotBoolean = BeforeValidator(_not_a_boolean)


def parse_timestamp(value: Any) -> int:
    """Unix seconds from an int/float or an ISO-8601 string (naive means UTC)."""
    if isinstance(value, bool):
        raise ValueError("timestamp must be unix seconds or an ISO-8601 string, not a boolean")
    if isinstance(value, (int, float)):
        if value != value or not 0 <= value <= MAX_TIMESTAMP:
            raise ValueError(f"timestamp must be between 0 and {MAX_TIMESTAMP} unix seconds")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return parse_timestamp(int(text))
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("timestamp must be unix seconds or an ISO-8601 string "
                             "like 2024-05-01T12:00:00Z") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return parse_timestamp(dt.timestamp())
    raise ValueError("timestamp must be unix seconds or an ISO-8601 string")


class EventIn(BaseModel):
    """One user action."""

    model_config = ConfigDict(extra="forbid")

    user_id: ExternalId
    item_id: ExternalId = Field(examples=["i9"])
    event_type: str = Field("click", min_length=1, max_length=32,
                            pattern=r"^[a-z][a-z0-9_]*$", examples=["click"])
    value: Annotated[float | None, NotBoolean] = Field(None, allow_inf_nan=False, ge=-1e9,
                                                       le=1e9, examples=[1.0])
    timestamp: (Annotated[int, Field(ge=0, le=MAX_TIMESTAMP)]
                | Annotated[float, Field(ge=0, le=MAX_TIMESTAMP)] | str | None) = Field(
        None, description="unix seconds, or an ISO-8601 date-time from 1970 to 9999 "
        "(naive means UTC); defaults to the time of receipt", examples=[1700000000])
    text: CleanStr | None = Field(None, max_length=MAX_TEXT,
                                  description="a search query or review that came with the event")
    recommendation_id: str | None = Field(
        None, pattern=r"^[0-9a-f]{32}$",
        description="the recommendation_id of the served list this event answers (explicit "
                    "attribution for the feedback loop)")
    event_id: CleanStr | None = Field(None, min_length=1, max_length=MAX_ID,
                                 description="client id; a repeated id is not stored twice",
                                 examples=["e-123"])

    @field_validator("timestamp", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> int | None:
        return None if value is None else parse_timestamp(value)


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"events": [{
        "user_id": "u1", "item_id": "i9", "event_type": "click", "value": 1.0,
        "timestamp": 1700000000, "text": None, "event_id": "e-123"}]}]})

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventsAccepted(BaseModel):
    accepted: int = Field(examples=[1])
    duplicates: int = Field(examples=[0])


class RecommendedItem(BaseModel):
    item_id: str = Field(examples=["i42"])
    score: float = Field(examples=[0.93])
    source: str = Field(description="signal that ranked the item: the model's name "
                        "(e.g. sequence, itemknn), content, popularity or query",
                        examples=["sequence"])
    reasons: list[str] = Field(default_factory=list,
                               examples=[["because you recently rated Alien and Aliens"]])
    title: str | None = Field(None, examples=["Blade Runner (1982)"])


class Recommendations(BaseModel):
    user_id: str | None = Field(None, examples=["u1"])
    model_version: str = Field(examples=["itemknn-3f2a9c1b7d0e"])
    items: list[RecommendedItem]
    recommendation_id: str | None = Field(
        None, examples=["9f1c2b7e4d5a4c3b8a716f0e2d3c4b5a"],
        description="id of this served list; send it back on events it led to")


class QueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "query": "slow-burning sci-fi about memory", "user_id": "u1", "k": 10}]})

    query: CleanStr = Field(min_length=1, max_length=MAX_TEXT)
    user_id: ExternalId | None = None
    k: Annotated[int, NotBoolean] = Field(10, ge=1, le=MAX_K)
    exclude_seen: bool = True
    diversity: Annotated[float, NotBoolean] = Field(0.0, ge=0.0, le=1.0)
    explain: bool = True


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "title": "Blade Runner (1982)", "text": "A blade runner hunts replicants.",
        "attributes": {"genres": ["Sci-Fi", "Noir"], "year": 1982}}]})

    title: CleanStr = Field("", max_length=MAX_TEXT)
    text: CleanStr = Field("", max_length=MAX_TEXT)
    attributes: Attributes = Field(default_factory=dict)
    hidden: bool = False


class ItemInWithId(ItemIn):
    item_id: ExternalId


class ItemBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ItemInWithId] = Field(min_length=1, max_length=MAX_BATCH)


class ItemOut(BaseModel):
    item_id: str
    title: str
    text: str
    attributes: dict[str, Any]
    hidden: bool
    has_embedding: bool
    updated_at: int


class ItemsUpserted(BaseModel):
    upserted: int


class SimilarItems(BaseModel):
    item_id: str
    items: list[RecommendedItem]


class ReloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_dir: CleanStr | None = Field(None, max_length=4096,
                                  description="folder to load; default: the configured one")


class ReloadOut(BaseModel):
    model_version: str
    previous_version: str | None
    model_name: str


class Deleted(BaseModel):
    user_id: str
    events_deleted: int
    state_deleted: bool


class SegmentRef(BaseModel):
    id: int
    label: str = Field(examples=["Sci-Fi, Action, Thriller"])
    users: int


class ClusterOut(BaseModel):
    label: str = Field(examples=["Sci-Fi, Horror"])
    weight: float = Field(description="share of the user's interest", examples=[0.6])
    topics: list[str]
    items: list[str] = Field(description="titles of recent items in this interest")


class Profile(BaseModel):
    user_id: str
    segment: SegmentRef | None
    history_length: int
    long_term_topics: list[str] = Field(examples=[["Sci-Fi", "Horror", "Action"]])
    short_term_topics: list[str] = Field(examples=[["Comedy", "Romance"]])
    clusters: list[ClusterOut]
    drift: float = Field(description="1 - cos(short-term, long-term interest)",
                         examples=[0.31])
    last_event_at: int | None
    recent_items: list[str]


class Point2D(BaseModel):
    x: float | None
    y: float | None


class InterestPoint(BaseModel):
    timestamp: int
    item_id: str
    event_type: str
    drift: float
    short_term: Point2D
    long_term: Point2D
    short_term_topic: str | None


class InterestHistory(BaseModel):
    user_id: str
    points: list[InterestPoint]


class ExportedEvent(BaseModel):
    item_id: str
    event_type: str
    value: float | None
    timestamp: int
    text: str | None
    event_id_hash: str | None
    received_at: int


class Export(BaseModel):
    user_id: str
    user_key: str = Field(description="the pseudonym the user is stored under")
    events: list[ExportedEvent]
    interest_state: dict[str, Any] | None
    n_events: int


class SegmentItem(BaseModel):
    item_id: str
    title: str
    count: int


class SegmentExemplar(BaseModel):
    item_id: str
    title: str
    events: int = Field(description="members' events on it")


class SegmentOut(BaseModel):
    id: int = Field(description="stable across versions: a refit keeps the ids of the "
                                "segments it matches")
    label: str
    users: int
    share: float
    genres: list[str] = Field(default_factory=list,
                              description="topics most over-represented among members")
    title_words: list[str] = Field(default_factory=list)
    exemplars: list[SegmentExemplar] = Field(default_factory=list)
    drift: float | None = Field(None, description="members' median drift")
    top_items: list[SegmentItem]


class SegmentsOut(BaseModel):
    built_at: int | None
    version: int | None = Field(None, description="segmentation version, shared by every "
                                                  "service process")
    k: int | None = None
    silhouette: float | None = None
    segments: list[SegmentOut]


class FusionWeightsOut(BaseModel):
    version: int = Field(description="0: the model's offline weights")
    reason: str = Field(examples=["update"])
    weights: dict[str, float]
    updates: int
    created_at: float | None = None
    stats: dict[str, Any] = Field(default_factory=dict)


class FusionOut(BaseModel):
    model_version: str
    enabled: bool = Field(description="whether the loop learns (DRIFTREC_FEEDBACK__ENABLED)")
    offline: dict[str, float] | None = Field(description="the trained model's weights")
    current: FusionWeightsOut | None
    previous: list[FusionWeightsOut]
