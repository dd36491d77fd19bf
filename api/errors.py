"""Every error answer has one shape: `{"error": "<text>", "reason": "<machine code>", ...}`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorBody(BaseModel):
    """An error: `reason` is stable and machine-readable, `error` is for people."""

    model_config = ConfigDict(extra="allow")

    error: str
    reason: str


class ApiError(Exception):
    def __init__(self, status: int, reason: str, error: str,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.status, self.reason, self.error = status, reason, error
        self.headers, self.extra = headers, extra

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error, "reason": self.reason, **self.extra},
                            status_code=self.status, headers=self.headers)


def not_found(account: str) -> ApiError:
    return ApiError(404, "unknown_account", f"no account {account!r} in the stream's state")


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")}
                   for e in exc.errors()[:20]]
        return JSONResponse({"error": "invalid request", "reason": "invalid_request",
                             "details": details}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": str(exc.detail), "reason": reason},
                            status_code=exc.status_code, headers=exc.headers)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No key, an unknown key, or no keys configured "
                                             "(reasons missing_api_key, unknown_api_key, "
                                             "no_api_keys_configured)."},
    403: {"model": ErrorBody, "description": "The key has no right on this account "
                                             "(account_not_readable, account_not_writable)."},
}
