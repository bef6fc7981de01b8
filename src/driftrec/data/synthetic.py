"""Synthetic event data with topics, a long tail, sessions and drifting interests.

``driftrec data synth`` and :func:`generate` write ``events.parquet`` (``user_id, item_id,
timestamp, event_type, value``), ``items.parquet`` (``item_id, title, genres,
description``) and ``synth.json`` (the parameters and a few statistics) in the formats
``driftrec train --events --items`` and ``driftrec import --events`` read.

The generative process, every step vectorised with NumPy and seeded:

1. **Topics.** ``topics`` topics, each with a popularity drawn from a Zipf law over a
   random ranking (``topic_popularity[t] ∝ rank(t)^-topic_zipf``). Each topic reads from a
   vocabulary: a theme of real English words (space, cooking, jazz, ...; topics beyond the
   built-in themes reuse one and add a few invented words of their own), so a language
   model places items of one topic close together.
2. **Items.** Items are dealt to topics in proportion to the topics' popularity (every
   topic gets at least one). Within a topic, items get a Zipf popularity over a random
   ranking (``∝ rank^-item_zipf``): the catalogue's overall popularity is long-tailed both
   across and within topics. An item's text is drawn from its topic's vocabulary (75 %)
   and a general vocabulary (25 %): a three-word title and a 8-14 word description;
   ``genres`` names its topic and, for a fifth of the items, a second topic.
3. **Users.** Each user has a long-tailed activity (log-normal weight; every user gets at
   least ``min(3, events // users)`` events and the rest are shared out multinomially) and
   1-5 interests: topics drawn by topic popularity, with log-weights from N(0, 1).
4. **Sessions and drift.** A user's events come in sessions of geometric length (mean
   ``session_mean``). Sessions start ``Exp(gap_days)`` days apart, from a start time
   uniform in the first half of a one-year span; events within a session are
   ``1 + Exp(60)`` seconds apart. Before every session the interest log-weights take a
   random-walk step ``N(0, drift^2)``: interests wax and wane, so a user's topics early on
   differ from their topics late (``drift=0`` turns this off).
5. **Events.** A session picks one interest by its current weight. Each event then takes
   the session's topic (80 %), another of the user's interests by current weight (15 %), or
   any topic by popularity (5 %, exploration), and an item of that topic by the item
   popularity. The event type is ``view``, ``click`` or ``purchase`` with probabilities
   ``type_rates`` (default 0.70/0.25/0.05); ``value`` is 1.

Events are generated and written per block of users (about ``chunk_events`` events each),
so memory stays flat however many events are asked for; within a block rows are ordered
by user, then time. The same arguments and seed give byte-identical files.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DAY = 86_400
#: 2024-01-01T00:00:00Z: where the synthetic timeline starts.
EPOCH = 1_704_067_200
SPAN_DAYS = 365
EVENT_TYPES = ("view", "click", "purchase")
MAX_INTERESTS = 5

#: Topic vocabularies: real words, so that a sentence encoder can tell topics apart.
THEMES: dict[str, tuple[str, ...]] = {
    "space": ("galaxy", "orbit", "rocket", "planet", "astronaut", "comet", "nebula",
              "telescope", "lunar", "stellar", "cosmos", "satellite", "asteroid", "launch"),
    "cooking": ("recipe", "kitchen", "bake", "spice", "sauce", "oven", "flavour", "chef",
                "dough", "roast", "simmer", "garlic", "pastry", "herbs"),
    "football": ("goal", "striker", "league", "match", "stadium", "referee", "penalty",
                 "midfield", "coach", "tackle", "cup", "season", "keeper", "derby"),
    "jazz": ("saxophone", "trumpet", "swing", "improvisation", "bebop", "quartet",
             "blues", "groove", "piano", "rhythm", "club", "solo", "bass", "standards"),
    "gardening": ("garden", "soil", "seeds", "bloom", "compost", "roses", "tulips",
                  "pruning", "greenhouse", "harvest", "vegetables", "mulch", "hedge", "lawn"),
    "history": ("empire", "medieval", "dynasty", "revolution", "ancient", "kingdom",
                "war", "treaty", "castle", "archive", "pharaoh", "knights", "chronicle",
                "monarch"),
    "programming": ("code", "compiler", "python", "algorithm", "debugging", "software",
                    "database", "function", "server", "kernel", "api", "framework",
                    "refactor", "testing"),
    "fitness": ("workout", "running", "muscle", "cardio", "yoga", "training", "stretch",
                "marathon", "gym", "strength", "endurance", "protein", "sprint", "pilates"),
    "travel": ("journey", "passport", "beach", "island", "hotel", "backpacking", "flight",
               "tourism", "map", "adventure", "luggage", "resort", "voyage", "border"),
    "finance": ("stocks", "market", "investment", "bank", "dividend", "portfolio",
                "interest", "budget", "savings", "inflation", "bonds", "trading", "tax",
                "credit"),
    "horror": ("ghost", "haunted", "zombie", "vampire", "nightmare", "scream", "curse",
               "monster", "graveyard", "terror", "demon", "blood", "shadow", "witch"),
    "romance": ("love", "wedding", "kiss", "heart", "romance", "passion", "couple",
                "valentine", "sweetheart", "affair", "date", "letters", "bride", "longing"),
    "wildlife": ("lion", "elephant", "safari", "forest", "birds", "wolf", "jungle",
                 "ocean", "whale", "tiger", "habitat", "migration", "predator", "species"),
    "cars": ("engine", "racing", "motor", "turbo", "garage", "sedan", "horsepower",
             "driver", "highway", "tyres", "rally", "electric", "gearbox", "speed"),
    "fashion": ("dress", "style", "runway", "designer", "fabric", "jacket", "boutique",
                "trend", "silk", "couture", "shoes", "denim", "model", "tailoring"),
    "science": ("physics", "chemistry", "experiment", "molecule", "laboratory", "theory",
                "quantum", "atom", "energy", "biology", "research", "particle", "cell",
                "genome"),
    "art": ("painting", "canvas", "sculpture", "gallery", "portrait", "museum", "brush",
            "watercolour", "abstract", "exhibition", "sketch", "mural", "palette", "artist"),
    "gaming": ("console", "quest", "multiplayer", "level", "arcade", "controller", "boss",
               "pixel", "esports", "dungeon", "strategy", "avatar", "loot", "speedrun"),
    "weather": ("storm", "rain", "thunder", "forecast", "snow", "hurricane", "climate",
                "sunshine", "wind", "tornado", "cloud", "frost", "monsoon", "drought"),
    "medicine": ("doctor", "hospital", "surgery", "vaccine", "patient", "nurse",
                 "diagnosis", "therapy", "clinic", "medicine", "virus", "heart", "pharmacy",
                 "healing"),
}
GENERAL_WORDS = ("new", "great", "story", "guide", "classic", "modern", "life", "world",
                 "best", "little", "secret", "complete", "first", "last", "golden", "night",
                 "day", "home", "simple", "big", "collection", "edition", "journey", "lost")
_SYLLABLES = ("ka", "lo", "mi", "ren", "tu", "sa", "vor", "ne", "di", "pax", "ul", "zo",
              "tri", "bel", "qua", "mon")


@dataclass
class SynthConfig:
    users: int = 10_000
    items: int = 2_000
    events: int = 200_000
    seed: int = 0
    #: Number of topics; 0 picks ``clip(round(sqrt(items) / 2), 4, 200)``.
    topics: int = 0
    topic_zipf: float = 0.8
    item_zipf: float = 1.1
    #: Standard deviation of the per-session random-walk step of interest log-weights.
    drift: float = 0.5
    session_mean: float = 6.0
    gap_days: float = 4.0
    type_rates: tuple[float, float, float] = (0.70, 0.25, 0.05)
    #: Users are generated in blocks of about this many events (part of the seed's recipe).
    chunk_events: int = 1_000_000

    def __post_init__(self) -> None:
        if self.users < 1 or self.items < 1:
            raise ValueError("users and items must be at least 1")
        if self.events < self.users:
            raise ValueError(f"events ({self.events}) must be at least users ({self.users}):"
                             " every user gets events")
        if self.topics <= 0:
            self.topics = int(np.clip(round(math.sqrt(self.items) / 2), 4, 200))
        self.topics = min(self.topics, self.items)
        if self.drift < 0 or self.session_mean < 1 or self.gap_days <= 0:
            raise ValueError("drift >= 0, session_mean >= 1 and gap_days > 0 are required")
        rates = np.asarray(self.type_rates, dtype=float)
        if rates.shape != (3,) or (rates < 0).any() or rates.sum() <= 0:
            raise ValueError("type_rates: three non-negative rates (view, click, purchase)")
        self.type_rates = tuple(float(r) for r in rates / rates.sum())


@dataclass
class Catalogue:
    """The item side: each item's topic, its sampling tables, and the items table."""

    topic_of: np.ndarray             # (items,) topic of each item index
    topic_popularity: np.ndarray     # (topics,) sums to 1
    item_popularity: np.ndarray      # (items,) within-topic probability
    cdf: np.ndarray                  # (items,) topic + within-topic cumulative probability
    order: np.ndarray                # item indices sorted by topic (cdf is in this order)
    topic_names: list[str]
    table: pd.DataFrame


def _zipf(n: int, a: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities ∝ rank^-a over a random ranking of ``n`` things."""
    w = np.arange(1, n + 1, dtype=float) ** -a
    w = w[rng.permutation(n)]
    return w / w.sum()


def _pseudo_words(rng: np.random.Generator, n: int) -> list[str]:
    parts = rng.integers(0, len(_SYLLABLES), size=(n, 3))
    return ["".join(_SYLLABLES[p] for p in row) for row in parts]


def topic_vocabularies(n_topics: int, rng: np.random.Generator
                       ) -> tuple[list[str], list[tuple[str, ...]]]:
    """A name and a word list per topic; topics past the built-in themes reuse a theme
    with four invented words of their own (and a name that says so)."""
    themes = list(THEMES)
    names, vocab = [], []
    for t in range(n_topics):
        theme = themes[t % len(themes)]
        words = THEMES[theme]
        if t >= len(themes):
            own = _pseudo_words(rng, 4)
            theme = f"{theme}-{own[0]}"
            words = words + tuple(own)
        names.append(theme)
        vocab.append(words)
    return names, vocab


def make_catalogue(cfg: SynthConfig, rng: np.random.Generator) -> Catalogue:
    n, k = cfg.items, cfg.topics
    topic_pop = _zipf(k, cfg.topic_zipf, rng)
    # Items per topic ∝ topic popularity, at least one each.
    sizes = np.ones(k, dtype=np.int64) + rng.multinomial(n - k, topic_pop)
    topic_sorted = np.repeat(np.arange(k), sizes)
    order = rng.permutation(n)                  # item index of each topic-sorted slot
    topic_of = np.empty(n, dtype=np.int64)
    topic_of[order] = topic_sorted
    item_pop = np.empty(n, dtype=float)
    cdf_sorted = np.empty(n, dtype=float)
    start = 0
    for t, size in enumerate(sizes):
        p = _zipf(int(size), cfg.item_zipf, rng)
        slots = order[start:start + size]
        item_pop[slots] = p
        c = np.cumsum(p)
        c[-1] = 1.0
        cdf_sorted[start:start + size] = t + c
        start += size
    names, vocab = topic_vocabularies(k, rng)
    table = _item_table(topic_of, names, vocab, rng)
    return Catalogue(topic_of, topic_pop, item_pop, cdf_sorted, order, names, table)


def _item_table(topic_of: np.ndarray, names: list[str], vocab: list[tuple[str, ...]],
                rng: np.random.Generator) -> pd.DataFrame:
    n = len(topic_of)
    width = len(str(n - 1))
    ids = [f"i{i:0{width}d}" for i in range(n)]
    n_words = rng.integers(8, 15, size=n)
    max_words = 3 + int(n_words.max())
    # Word draws for every item at once: a uniform per slot, topic word or general word.
    general = rng.random((n, max_words)) < 0.25
    u = rng.random((n, max_words))
    second = np.where(rng.random(n) < 0.2, rng.integers(0, len(names), size=n), -1)
    # one flat word list: each topic's words, then the general words
    flat = np.array([w for words in vocab for w in words] + list(GENERAL_WORDS), dtype=object)
    size = np.array([len(words) for words in vocab])
    offset = np.concatenate([[0], np.cumsum(size)])
    rows_size, rows_offset = size[topic_of][:, None], offset[topic_of][:, None]
    index = np.where(general, offset[-1] + (u * len(GENERAL_WORDS)).astype(np.int64),
                     rows_offset + (u * rows_size).astype(np.int64))
    # titles lean on the topic: their second and third words are always topic words
    index[:, 1:3] = rows_offset + (u[:, 1:3] * rows_size).astype(np.int64)
    words = flat[index].tolist()
    titles = [" ".join(w[:3]).title() for w in words]
    descriptions = [" ".join(w[3:3 + m]).capitalize() + "." for w, m in
                    zip(words, n_words.tolist(), strict=True)]
    topic_names = np.array(names, dtype=object)
    genres = topic_names[topic_of]
    two = (second >= 0) & (second != topic_of)
    genres[two] = genres[two] + "|" + topic_names[second[two]]
    return pd.DataFrame({"item_id": ids, "title": titles, "genres": genres.tolist(),
                         "description": descriptions})


def _user_counts(cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    base = min(3, cfg.events // cfg.users)
    activity = rng.lognormal(0.0, 1.0, size=cfg.users)
    return base + rng.multinomial(cfg.events - base * cfg.users, activity / activity.sum())


def _grouped_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` (rows) restarting at each index in ``starts``."""
    total = np.cumsum(values, axis=0)
    before = np.zeros_like(total)
    before[1:] = total[:-1]
    offset = before[starts]
    lengths = np.diff(np.append(starts, len(values)))
    return total - np.repeat(offset, lengths, axis=0)


def _gumbel_pick(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row, drawn with probability softmax(row) (Gumbel-max)."""
    g = -np.log(-np.log(rng.random(logits.shape)))
    return np.argmax(logits + g, axis=1)


def _events_block(cfg: SynthConfig, cat: Catalogue, counts: np.ndarray,
                  user_offset: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Events of a block of users (``counts`` events each), ordered by user then time."""
    n_users = len(counts)
    n_ev = int(counts.sum())
    k = cfg.topics
    # interests: 1-5 topics by popularity; unused slots get -inf log-weight
    n_int = np.minimum(1 + rng.poisson(1.2, size=n_users), MAX_INTERESTS)
    interests = rng.choice(k, size=(n_users, MAX_INTERESTS), p=cat.topic_popularity)
    logit0 = rng.normal(0.0, 1.0, size=(n_users, MAX_INTERESTS))
    logit0[np.arange(MAX_INTERESTS)[None, :] >= n_int[:, None]] = -np.inf

    # sessions: cut each user's events into geometric-length runs
    ev_user = np.repeat(np.arange(n_users), counts)
    user_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    new_session = rng.random(n_ev) < 1.0 / cfg.session_mean
    new_session[user_start] = True
    sess_of = np.cumsum(new_session) - 1                 # session index of each event
    sess_start_ev = np.flatnonzero(new_session)
    sess_user = ev_user[sess_start_ev]
    n_sess = len(sess_start_ev)
    first_sess = np.flatnonzero(np.r_[True, sess_user[1:] != sess_user[:-1]])

    # drift: log-weights random-walk one step per session (the first session: no step)
    steps = rng.normal(0.0, cfg.drift, size=(n_sess, MAX_INTERESTS))
    steps[first_sess] = 0.0
    logits = logit0[sess_user] + _grouped_cumsum(steps, first_sess)
    sess_slot = _gumbel_pick(logits, rng)

    # session times: start uniform in the first half of the span, Exp(gap_days) apart
    start = rng.uniform(0, SPAN_DAYS * DAY / 2, size=n_users)
    gaps = rng.exponential(cfg.gap_days * DAY, size=n_sess)
    gaps[first_sess] = 0.0
    sess_time = start[sess_user] + _grouped_cumsum(gaps, first_sess)
    within = 1.0 + rng.exponential(60.0, size=n_ev)
    within[sess_start_ev] = 0.0
    ev_time = sess_time[sess_of] + _grouped_cumsum(within, sess_start_ev)

    # each event's topic: the session's (80 %), another interest (15 %), any topic (5 %)
    mode = rng.random(n_ev)
    slot = sess_slot[sess_of].copy()
    other = (mode >= 0.80) & (mode < 0.95)
    if other.any():
        slot[other] = _gumbel_pick(logits[sess_of[other]], rng)
    topic = interests[ev_user, slot]
    explore = mode >= 0.95
    topic[explore] = rng.choice(k, size=int(explore.sum()), p=cat.topic_popularity)
    # the item: inverse CDF over the topic's items (cdf runs t..t+1 within topic t)
    slot_in_sorted = np.searchsorted(cat.cdf, topic + rng.random(n_ev), side="right")
    item = cat.order[np.minimum(slot_in_sorted, len(cat.order) - 1)]
    etype = np.searchsorted(np.cumsum(cfg.type_rates), rng.random(n_ev), side="right")
    etype = np.minimum(etype, len(EVENT_TYPES) - 1)
    return {
        "user": ev_user + user_offset,
        "item": item,
        "timestamp": EPOCH + np.floor(ev_time).astype(np.int64),
        "event_type": etype,
        "topic": topic,
    }


def _ids(prefix: str, lo: int, hi: int, width: int) -> pa.Array:
    """Ids ``prefix + zero-padded index`` for indices ``lo..hi-1``."""
    return pa.array([f"{prefix}{i:0{width}d}" for i in range(lo, hi)], pa.string())


EVENTS_SCHEMA = pa.schema([("user_id", pa.string()), ("item_id", pa.string()),
                           ("timestamp", pa.int64()), ("event_type", pa.string()),
                           ("value", pa.float32())])


def iter_blocks(cfg: SynthConfig, cat: Catalogue | None = None):
    """``(catalogue, blocks)``: blocks of raw event arrays (index arrays ``user``, ``item``,
    ``timestamp``, ``event_type`` and each event's ``topic``), one per group of users."""
    item_seq, count_seq = np.random.SeedSequence(cfg.seed).spawn(2)
    cat = cat or make_catalogue(cfg, np.random.default_rng(item_seq))
    counts = _user_counts(cfg, np.random.default_rng(count_seq))
    # user blocks of about chunk_events events
    bounds = np.searchsorted(np.cumsum(counts), np.arange(cfg.chunk_events, cfg.events,
                                                          cfg.chunk_events))
    edges = np.unique(np.concatenate([[0], bounds + 1, [cfg.users]]))
    edges = edges[edges <= cfg.users]

    def blocks():
        for b, (lo, hi) in enumerate(itertools.pairwise(edges)):
            rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(2, b)))
            yield _events_block(cfg, cat, counts[lo:hi], int(lo), rng)

    return cat, blocks()


def generate(out_dir: str | Path, cfg: SynthConfig,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Write ``events.parquet``, ``items.parquet`` and ``synth.json`` into ``out_dir``;
    return the summary written to ``synth.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cat, blocks = iter_blocks(cfg)
    pq.write_table(pa.Table.from_pandas(cat.table, preserve_index=False),
                   out / "items.parquet")
    uw = len(str(cfg.users - 1))
    item_ids = pa.array(cat.table["item_id"].to_numpy(), pa.string())
    types = pa.array(list(EVENT_TYPES))
    item_events = np.zeros(cfg.items, dtype=np.int64)
    type_counts = np.zeros(len(EVENT_TYPES), dtype=np.int64)
    written = 0
    tmp = out / ".events.parquet.tmp"
    with pq.ParquetWriter(tmp, EVENTS_SCHEMA) as writer:
        for block in blocks:
            n = len(block["user"])
            lo = int(block["user"][0])
            users = _ids("u", lo, int(block["user"][-1]) + 1, uw)
            table = pa.Table.from_arrays([
                users.take(pa.array(block["user"] - lo)), item_ids.take(pa.array(block["item"])),
                pa.array(block["timestamp"], pa.int64()),
                types.take(pa.array(block["event_type"])),
                pa.array(np.ones(n, dtype=np.float32)),
            ], schema=EVENTS_SCHEMA)
            writer.write_table(table)
            item_events += np.bincount(block["item"], minlength=cfg.items)
            type_counts += np.bincount(block["event_type"], minlength=len(EVENT_TYPES))
            written += n
            if progress is not None:
                progress(written, cfg.events)
    tmp.replace(out / "events.parquet")
    summary = {
        "config": asdict(cfg),
        "events": written,
        "users": cfg.users,
        "items": cfg.items,
        "items_with_events": int((item_events > 0).sum()),
        "top_1pct_item_share": top_share(item_events, 0.01),
        "top_10pct_item_share": top_share(item_events, 0.10),
        "event_types": dict(zip(EVENT_TYPES, type_counts.tolist(), strict=True)),
        "topics": cat.topic_names,
    }
    (out / "synth.json").write_text(json.dumps(summary, indent=2))
    return summary


def top_share(counts: np.ndarray, fraction: float) -> float:
    """Share of all events on the most popular ``fraction`` of items."""
    counts = np.sort(np.asarray(counts))[::-1]
    top = max(1, round(len(counts) * fraction))
    return float(counts[:top].sum() / max(counts.sum(), 1))
