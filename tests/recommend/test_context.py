"""A user context held in memory: what requests derive from it is computed once."""

from __future__ import annotations

from driftrec.interest.state import new_state
from driftrec.recommend.context import UserContext


def a_context() -> UserContext:
    return UserContext("u", [], new_state("u", 4), 0)


def test_a_derived_value_is_computed_once_while_what_it_depends_on_is_unchanged():
    ctx, calls = a_context(), []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert ctx.derived("rows", ("model-1", 7), compute) == 1
    assert ctx.derived("rows", ("model-1", 7), compute) == 1  # kept
    assert ctx.derived("rows", ("model-1", 8), compute) == 2  # the catalogue changed
    assert ctx.derived("other", ("model-1", 8), compute) == 3  # names are separate
    assert ctx.derived("rows", ("model-1", 8), compute) == 2
    assert len(calls) == 3


def test_a_new_context_derives_afresh():
    first, second = a_context(), a_context()
    first.derived("rows", 1, lambda: "first")
    assert second.derived("rows", 1, lambda: "second") == "second"
