"""Service settings: environment variables ``DRIFTREC_*`` over an optional TOML file.

Every setting has a safe default so that ``driftrec serve`` works on a fresh machine with
SQLite alone. The TOML file (path in ``DRIFTREC_CONFIG`` or passed explicitly) uses the same
names as the environment, with or without the ``DRIFTREC_`` prefix, in any case::

    DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    API_KEYS_READ = "reader-key-1,reader-key-2"
    API_KEYS_ADMIN = ["admin-key"]
"""

from __future__ import annotations

import contextvars
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from driftrec.feedback.config import FeedbackConfig

ENV_PREFIX = "DRIFTREC_"
CONFIG_ENV = "DRIFTREC_CONFIG"

_config_path: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "driftrec_config_path", default=None
)


class ConfigError(ValueError):
    """A settings file or value that cannot be used."""


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the optional TOML file; keys are matched case-insensitively, prefix optional."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        if not self.path:
            return {}
        path = Path(self.path)
        if not path.is_file():
            raise ConfigError(f"settings file {str(path)!r} (from {CONFIG_ENV} or --config) "
                              f"does not exist")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"settings file {str(path)!r} is not valid TOML: {exc}") from exc
        known = set(self.settings_cls.model_fields)
        out: dict[str, Any] = {}
        for key, value in raw.items():
            name = key.lower().removeprefix(ENV_PREFIX.lower())
            if name not in known:
                raise ConfigError(f"settings file {str(path)!r}: unknown setting {key!r}")
            out[name] = value
        return out


def _split_keys(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip() for v in value if str(v).strip()]


class Settings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore",
                                      protected_namespaces=(), env_nested_delimiter="__")

    database_url: str = "sqlite:///./driftrec.db"
    api_keys_read: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_keys_admin: Annotated[list[str], NoDecode] = Field(default_factory=list)
    id_secret: SecretStr | None = None
    model_dir: Path | None = None
    #: Text encoder for item and query text: ``minilm``, ``use``, ``hashing`` or a path to a
    #: sentence-transformers model directory.
    encoder: str = "minilm"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    # -- input limits ---------------------------------------------------------------
    max_body_bytes: int = 1_000_000
    max_batch_events: int = 1000
    max_batch_items: int = 1000
    max_id_length: int = 128
    max_text_length: int = 4000
    max_k: int = 200

    # -- serving --------------------------------------------------------------------
    #: Most recent events per user the model scores from. The default covers every real
    #: history, so the service scores exactly what offline evaluation scores (the sequence
    #: model itself reads its last ``max_len`` items; the interest signals read them all).
    history_length: int = 10_000
    #: Weight of content similarity for items the model does not know (new items).
    new_item_weight: float = 0.8
    #: Users whose context (recent events, interest state) each process keeps in memory,
    #: least recently used first out; about 30 KB each with 384-d text vectors. A request
    #: still reads the user's revision from the database, so nothing served is stale.
    context_cache_users: int = 4096
    #: Seconds the per-process item popularity stays cached.
    popularity_ttl_s: float = 10.0
    #: Threads each numerical call (BLAS, torch) may use. Requests already run in
    #: parallel; one thread per call avoids oversubscribing the cores (``driftrec serve``).
    compute_threads: int = 1
    #: Compute the model's scores of a changed history in a worker thread, batched with
    #: concurrent requests' (``recommend/batching.py``), so that requests for users held in
    #: memory go on meanwhile. ``driftrec serve --workers N`` turns it off when N reaches the
    #: number of cores: the thread then only competes with the other processes' event loops.
    scoring_thread: bool = True
    #: Items past which candidate retrieval uses an approximate nearest-neighbour index
    #: (faiss IVF, :mod:`driftrec.recommend.ann`) instead of exact search over every item.
    ann_threshold: int = 100_000
    #: Seconds before the shared user segmentation is stale: one process then makes the
    #: next version from the stored states (centroids follow their members; ids kept).
    segment_refresh_s: float = 600.0
    #: Seconds between full refits of the segmentation (k chosen again; new segments take
    #: the ids of the old ones they match).
    segment_refit_s: float = 86_400.0
    #: The feedback loop: impressions, labels and the online update of the fused model's
    #: weights (``docs/feedback.md``; ``DRIFTREC_FEEDBACK__ENABLED=false`` turns learning off).
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)

    @field_validator("api_keys_read", "api_keys_admin", mode="before")
    @classmethod
    def _parse_keys(cls, value: Any) -> list[str]:
        return _split_keys(value)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys_read or self.api_keys_admin)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_path.get() or os.environ.get(CONFIG_ENV)
        return init_settings, env_settings, _TomlSource(settings_cls, path)


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from keyword overrides, then the environment, then the TOML file."""
    token = _config_path.set(str(config) if config else None)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _config_path.reset(token)
