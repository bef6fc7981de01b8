"""Schemathesis against the service's own OpenAPI schema, on SQLite and on PostgreSQL, with
the admin key: every answer must be one the schema declares (status code, body, content
type, headers), no input may cause a 5xx, schema-valid requests must be accepted and
schema-violating ones rejected (schemathesis 4's checks, all of them).

Requests are generated in both modes (valid and invalid) for every operation. The seed is
printed and differs per run; ``DRIFTREC_FUZZ_SEED=N`` repeats a run,
``DRIFTREC_FUZZ_EXAMPLES`` sets the examples per operation and mode (default 15: about
30 s per backend on two busy cores).

The service runs with its limits at the schema's hard caps (``MAX_ID``, ``MAX_TEXT``, ...),
so that the schema tells the whole truth about what is accepted.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from service_helpers import ADMIN_KEY, make_settings_for

from driftrec.service import create_app
from driftrec.service.schemas import MAX_BATCH, MAX_ID, MAX_K, MAX_TEXT

pytestmark = pytest.mark.slow

#: CI runs one pinned seed, so that a submission lands or not on its own merits; runs
#: elsewhere vary the seed (printed) to keep finding new cases.
CI_SEED = 0
SEED = int(os.environ.get("DRIFTREC_FUZZ_SEED")
           or (CI_SEED if os.environ.get("CI") else secrets.randbelow(2**32)))
EXAMPLES = int(os.environ.get("DRIFTREC_FUZZ_EXAMPLES", "15"))
# The admin key, given to schemathesis as the schema's API-key scheme: it sends it, and
# its own requests without it (negative cases, ignored_auth) stay without it.
# Schema-valid requests must be accepted, except where a rule is beyond JSON Schema: an
# event's ISO-8601 timestamp must be a date from 1970 to 9999, a model_dir must hold a
# trained model, an item's free-form attributes may nest at most 16 levels and hold
# 64-bit integers, and no string may carry NUL or lone surrogates; those may answer 422
# (naming the field, as every 4xx does here). A schema-violating request may also be
# refused as too large (413) before its body is read: too many items in a batch, say.
CONFIG = {
    "auth": {"openapi": {"APIKeyHeader": {"api_key": ADMIN_KEY}}},
    "operations": [{
        "include-name": ["POST /v1/events", "POST /v1/admin/reload", "POST /v1/items",
                         "PUT /v1/items/{item_id}"],
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]},
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413",
                                      "415", "422", "428", "429"]},
        },
    }],
}
NAMES_THE_FIELD = {400, 409, 413, 422}


@pytest.fixture
def api_schema(database_url, model_dir):
    """The API of a service with a model and its catalogue, keys required."""
    app = create_app(make_settings_for(
        database_url, model_dir, max_id_length=MAX_ID, max_text_length=MAX_TEXT, max_k=MAX_K,
        max_batch_events=MAX_BATCH, max_batch_items=MAX_BATCH))
    return schemathesis.openapi.from_asgi("/openapi.json", app,
                                          config=schemathesis.Config.from_dict(CONFIG))


def fuzz(operation, mode: GenerationMode, failures: list[str],
         statuses: Counter[int]) -> None:
    """``EXAMPLES`` generated requests to one operation; failures are collected, not
    raised: no shrinking, and every operation gets its turn."""
    where = f"{operation.label} ({mode.value})"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @seed(SEED)
    def call(case) -> None:
        try:
            response = case.call_and_validate()
        except (FailureGroup, AssertionError) as exc:  # schemathesis' check failures
            failures.append(f"{where}: {exc}"[:3000])
            return
        statuses[response.status_code] += 1
        if response.status_code in NAMES_THE_FIELD:
            detail = response.json().get("detail")
            if not (isinstance(detail, list) and detail and detail[0].get("loc")):
                failures.append(f"{where}: {response.status_code} names no field: "
                                f"{response.text}")

    call()


def test_every_answer_conforms_to_the_schema(api_schema):
    print(f"schemathesis seed {SEED} (DRIFTREC_FUZZ_SEED={SEED} repeats this run)")
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    for operation, mode in itertools.product(operations, list(GenerationMode)):
        try:
            fuzz(operation, mode, failures, statuses)
        except Unsatisfiable:
            # an operation without inputs has no invalid input to generate
            assert mode is GenerationMode.NEGATIVE, operation.label
    elapsed = time.monotonic() - started
    print(f"{sum(statuses.values())} conforming answers in {elapsed:.0f}s: {dict(statuses)}")
    assert not failures, f"seed {SEED}:\n\n" + "\n\n".join(failures)
    assert statuses[200] > len(operations), statuses  # valid calls got through, too
