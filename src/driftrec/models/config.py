"""One way to configure a model: a pydantic class of its options, declared on the model.

Every registered model sets ``config_class`` to a :class:`ModelConfig` subclass whose
fields are its options, with their defaults, types, bounds and descriptions. The same class
checks ``create_model(name, **options)``, the ``[model]`` / ``[models.NAME]`` tables of
``driftrec train --config`` and ``driftrec evaluate --config``, reads the resolved options
back from a saved model's ``model.json``, and fills the ``driftrec models`` listing.

A misspelled option is an error that names it, suggests the closest option and lists the
valid ones: it is never silently ignored.
"""

from __future__ import annotations

import difflib
import logging
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from driftrec.config import ConfigError

log = logging.getLogger(__name__)

C = TypeVar("C", bound="ModelConfig")


class ModelConfigError(ConfigError):
    """Options a model does not accept: unknown names, wrong types or out of bounds."""


class ModelConfig(BaseModel):
    """Base of every model's options (a model without options uses it as it is)."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())
    #: Former option names and their current ones: still accepted, with a warning.
    renamed: ClassVar[dict[str, str]] = {}

    @classmethod
    def resolve(cls: type[C], model: str, options: Mapping[str, Any] | None = None) -> C:
        """The options, defaults filled; a :class:`ModelConfigError` naming the model and
        every bad key otherwise."""
        options = dict(options or {})
        for old, new in cls.renamed.items():
            if old in options:
                log.warning("%s model option %r is now spelled %r", model, old, new)
                value = options.pop(old)
                options.setdefault(new, value)
        unknown = sorted(k for k in options if k not in cls.model_fields)
        if unknown:
            raise ModelConfigError(unknown_message(model, unknown, list(cls.model_fields)))
        try:
            return cls(**options)
        except ValidationError as exc:
            raise ModelConfigError(invalid_message(model, exc)) from None

    @classmethod
    def from_saved(cls: type[C], model: str, options: Mapping[str, Any] | None) -> C:
        """Options read back from a saved model. Keys this version does not know (a model
        saved by an older version that ignored misspelled options) are dropped with a
        warning: the saved model was trained without them."""
        options = dict(options or {})
        unknown = sorted(k for k in options
                         if k not in cls.model_fields and k not in cls.renamed)
        if unknown:
            log.warning("saved %s model: ignoring unknown option(s) %s", model, unknown)
        return cls.resolve(model, {k: v for k, v in options.items() if k not in unknown})

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied and checked."""
        return type(self)(**{**self.model_dump(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict of every option."""
        return self.model_dump(mode="json")

    @classmethod
    def options(cls) -> list[dict[str, str]]:
        """One row per option: name, type, default and description (for listings)."""
        rows = []
        for name, field in cls.model_fields.items():
            default = field.get_default(call_default_factory=True)
            bounds = [f"{op} {getattr(m, attr)}" for m in field.metadata
                      for attr, op in BOUNDS if hasattr(m, attr)]
            rows.append({"name": name, "type": ", ".join([type_name(field.annotation),
                                                          *bounds]),
                         "default": repr_default(default),
                         "description": field.description or ""})
        return rows


#: Constraint attributes of ``Field(ge=..., ...)`` metadata and how listings show them.
BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def unknown_message(model: str, unknown: list[str], valid: list[str]) -> str:
    if not valid:
        return f"the {model} model takes no options; got {', '.join(map(repr, unknown))}"
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=1)
        parts.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    label = "option" if len(unknown) == 1 else "options"
    return (f"unknown {model} model {label} {', '.join(parts)}; "
            f"valid options: {', '.join(sorted(valid))}")


def invalid_message(model: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if loc and "input" in err and not isinstance(err["input"], dict):
            problems.append(f"{loc}={err['input']!r}: {msg}")
        elif loc:
            problems.append(f"{loc}: {msg}")
        else:
            problems.append(msg)
    return f"invalid {model} model option(s): " + "; ".join(problems)


def type_name(annotation: Any) -> str:
    """``int``, ``float | None``, ``'dot' | 'cosine'``, ``list[str]``: readable types."""
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(annotation, "__name__", str(annotation))


def repr_default(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(repr_default(v) for v in value) + "]"
    return str(value)
