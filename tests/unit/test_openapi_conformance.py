"""The OpenAPI document matches the API (issue 16): schemathesis generates requests for
every operation from `/openapi.json` and checks each answer: no 5xx, status codes,
content types, headers and bodies as declared, invalid input refused. Requests use a
key that may read and write every account and a real account id (`acme`, with live
state), so the success paths run too; the rest of each request is generated."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import schemathesis
from hypothesis import HealthCheck, assume, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth

from api.app import create_api
from api.feeds import Feeds
from api.keys import ApiKey, KeyStore
from api.ops import LagRow, RejectedCount
from infra.clock import FixedClock
from schemas.envelope import EARLIEST, LATEST
from tests.unit.test_api_http import CTX, NOW, TOPICS, DictView, FakeProducer, acme_state

KEY = "k-ops-conformance"
APP = create_api(DictView({"acme": acme_state()}), FakeProducer, CTX, FixedClock(NOW),
                 keys=KeyStore([ApiKey(name="ops", sha256=hashlib.sha256(KEY.encode())
                                       .hexdigest(), write=["*"], read=["*"])]),
                 feeds=Feeds("unused:9092", TOPICS, keep=2),
                 ops=lambda: ([LagRow(group="metering-processor", topic="t.metering.events",
                                     partition=0, committed=5, end=7, lag=2)],
                              [RejectedCount(reason="unknown_account", count=3)]))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# valid requests only: what the document declares must be accepted and answered as
# declared (invalid input is refused with reasons: test_api_http.py, test_validate.py)
schema.config.generation.update(modes=[GenerationMode.POSITIVE], allow_x00=False)


def _integers(value: Any) -> Any:
    """JSON Schema counts 5.0 as an integer; the contract refuses it on purpose (issue 15:
    an integer field takes a JSON integer only), so generated integral floats are sent as
    the integers they stand for."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integers(v) for v in value]
    return value


def _within_rules_beyond_schema(body: Any) -> bool:
    """The two rules JSON Schema cannot say (schemas/README.md): a seasonal window's last
    day not before its first, and `time` in range once its offset is applied."""
    events = body if isinstance(body, list) else [body]
    for event in events:
        if not isinstance(event, dict):
            continue
        try:
            t = datetime.fromisoformat(str(event.get("time", "")).replace("Z", "+00:00"))
            if t.tzinfo is not None and not EARLIEST <= t < LATEST:
                return False
        except (ValueError, OverflowError):
            pass
        data = event.get("data")
        windows = data.get("seasonal", []) if isinstance(data, dict) else []
        for w in windows if isinstance(windows, list) else []:
            if isinstance(w, dict) and str(w.get("last_day")) < str(w.get("first_day")):
                return False
    return True


@schema.parametrize()
@settings(max_examples=40, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_openapi_declares(case: schemathesis.Case) -> None:
    if "account" in (case.path_parameters or {}):
        case.path_parameters = {**(case.path_parameters or {}), "account": "acme"}
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {KEY}"}
    case.body = _integers(case.body)
    assume(_within_rules_beyond_schema(case.body))
    # every request carries a valid key (auth itself is tested in test_api_http.py)
    case.call_and_validate(excluded_checks=[ignored_auth])
