"""The one internal schema every reader produces and every component consumes.

Events are ``user_id, item_id, timestamp, event_type, value, text``; external ids are
strings, timestamps are integer unix seconds. Items are ``item_id`` plus free text fields,
users are ``user_id`` plus optional attributes.
"""

from __future__ import annotations

from typing import Final

USER_ID: Final = "user_id"
ITEM_ID: Final = "item_id"
TIMESTAMP: Final = "timestamp"
EVENT_TYPE: Final = "event_type"
VALUE: Final = "value"
TEXT: Final = "text"

EVENT_COLUMNS: Final = (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, VALUE, TEXT)

#: Dense integer indices the dataset adds to every event frame.
USER_IDX: Final = "user_idx"
ITEM_IDX: Final = "item_idx"

#: Event types driftrec understands. Their default weights say how strongly each one
#: signals interest; ratings are additionally scaled by their value (see ``interest``).
EVENT_TYPES: Final = ("view", "click", "purchase", "rating", "search", "review", "like", "cart")
DEFAULT_EVENT_TYPE: Final = "rating"

#: Common spellings of the core columns in other people's files.
COLUMN_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    USER_ID: ("user_id", "userid", "user", "uid", "user_id:token", "userId", "userID"),
    ITEM_ID: (
        "item_id",
        "itemid",
        "item",
        "iid",
        "movie_id",
        "movieid",
        "movieId",
        "itemID",
        "item_id:token",
    ),
    TIMESTAMP: ("timestamp", "time", "ts", "datetime", "date", "timestamp:float"),
    EVENT_TYPE: ("event_type", "event", "type", "action", "behavior", "behaviour"),
    VALUE: ("value", "rating", "score", "weight", "rating:float"),
    TEXT: ("text", "query", "review", "comment"),
}
