"""Every error answer has one shape: `{"error": "<text>", "reason": "<machine code>",
"request_id": "<id>", ...}`; the id is also the `X-Request-Id` header of every answer (a
well-formed one sent by the client is kept) and in the API's log lines, so an operator can
find what happened. No error body carries exception text: an unexpected failure is a 500
`internal_error` whose details are in the log under its request id."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from infra.metrics import API_REQUESTS, API_SECONDS

log = structlog.get_logger(__name__)
REQUEST_ID = "X-Request-Id"
_GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


class ErrorBody(BaseModel):
    """An error: `reason` is stable and machine-readable, `error` is for people."""

    model_config = ConfigDict(extra="allow")

    error: str
    reason: str
    request_id: str = ""


class ApiError(Exception):
    def __init__(self, status: int, reason: str, error: str,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.status, self.reason, self.error = status, reason, error
        self.headers, self.extra = headers, extra

    def response(self, rid: str = "") -> JSONResponse:
        return JSONResponse({"error": self.error, "reason": self.reason, "request_id": rid,
                             **self.extra}, status_code=self.status, headers=self.headers)


def not_found(account: str) -> ApiError:
    return ApiError(404, "unknown_account", f"no account {account!r} in the stream's state")


def count_request(request: Request, status: int, seconds: float) -> None:
    """Requests by route template (`/v1/accounts/{account}/usage`, never the ids in it:
    bounded label values), method and status; `unmatched` for a path no route has."""
    route = getattr(request.scope.get("route"), "path", None) or "unmatched"
    API_REQUESTS.labels(route=route, method=request.method, status=str(status)).inc()
    API_SECONDS.labels(route=route).observe(seconds)


def install_handlers(app: FastAPI) -> None:
    @app.middleware("http")
    async def _request_id(request: Request,
                          call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get(REQUEST_ID, "")
        rid = given if _GIVEN_ID.fullmatch(given) else uuid.uuid4().hex
        request.state.request_id = rid
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=rid):
            try:
                response = await call_next(request)
            except Exception:  # a bug: logged with its id, answered without its text
                log.exception("api.internal_error", path=request.url.path)
                response = JSONResponse({"error": "internal error; the API's log has the "
                                                  "details under this request id",
                                         "reason": "internal_error", "request_id": rid},
                                        status_code=500)
        response.headers[REQUEST_ID] = rid
        count_request(request, response.status_code, time.perf_counter() - started)
        return response

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response(request_id(request))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")}
                   for e in exc.errors()[:20]]
        return JSONResponse({"error": "invalid request", "reason": "invalid_request",
                             "request_id": request_id(request), "details": details},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": str(exc.detail), "reason": reason,
                             "request_id": request_id(request)},
                            status_code=exc.status_code, headers=exc.headers)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No key, an unknown key, or no keys configured "
                                             "(reasons missing_api_key, unknown_api_key, "
                                             "no_api_keys_configured)."},
    403: {"model": ErrorBody, "description": "The key has no right on this account "
                                             "(account_not_readable, account_not_writable)."},
}
