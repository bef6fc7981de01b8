"""Schemathesis against the service's own OpenAPI schema: no input makes it fail with 5xx.

Both valid (positive) and schema-violating (negative) requests are generated.

Bounded to a few examples per operation so that it runs in seconds.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from service_helpers import make_settings_for

from driftrec.service import create_app

pytestmark = pytest.mark.slow


@pytest.fixture(params=["trained", "empty"])
def api_schema(request, tmp_path, model_dir):
    """The API of a service with a model and catalogue, and of one with neither."""
    model = model_dir if request.param == "trained" else None
    app = create_app(make_settings_for(f"sqlite:///{tmp_path / 'fuzz.db'}", model,
                                       api_keys_admin=[], api_keys_read=[]))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_server_errors(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for operation, mode in itertools.product(operations, list(GenerationMode)):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def call(case) -> None:
            response = case.call()
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: "
                                f"{response.status_code} {response.text[:300]}")

        try:
            call()
        except Unsatisfiable:
            # an operation without inputs has no invalid input to generate
            assert mode is GenerationMode.NEGATIVE, operation.label
    assert not failures, "\n".join(failures)
    assert statuses[200] > len(operations), statuses  # valid calls got through, too
