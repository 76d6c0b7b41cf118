"""schemathesis against the app's OpenAPI schema on a live server: no 5xx, and every response (errors
included) matches the schema in status code, content type and body. Bounded: a few examples per operation
and a deadline, so it stays within seconds per route in CI."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.api.conftest import HEADERS, Api
from tradingmodel.api import ApiConfig, create_app

schema = schemathesis.openapi.from_dict(create_app(ApiConfig("sqlite://", ["k"])).openapi())
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
MAX_EXAMPLES = 12


@pytest.fixture
def live(with_model: tuple[Api, int]) -> Api:
    return with_model[0]


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_no_schema_violation(case: schemathesis.Case, live: Api, tmp_path: Path) -> None:
    case.headers = {**(case.headers or {}), **HEADERS}  # a generated X-API-Key would only test the 401 path
    r = case.call_and_validate(base_url=live.base, checks=CHECKS, timeout=30)
    assert r.status_code not in (401, 403)  # the key went with every request: the routes were exercised
