"""The dashboard: static pages whose script reads the JSON API with the user's key.

`/dashboard/accounts/{account}` (usage against allotment, peaks, alerts, decisions,
invoices), `/dashboard/ops` (consumer lag, rejected events), `/dashboard/simulations` (a
form that queues a price simulation) and `/dashboard/simulations/{id}` (its report: the
book's changes, revenue by month before and after, by plan, the change per account, the
accounts that gain and lose most). The pages and the script
are the same for everyone and carry no data, so they need no key: the script takes the key
from the URL fragment (`#key=...`, never sent to the server, removed from the address bar
at once) or asks for it, keeps it in `sessionStorage` (this tab only) and calls the API
with `Authorization: Bearer`; the API's usual rights apply. A strict Content-Security-Policy
allows only our own script, and the script writes text only (no HTML from data).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'none'")
HEADERS = {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer",
           "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · metering</title>
<link rel="stylesheet" href="/dashboard/static/dashboard.css">
<script defer src="/dashboard/static/dashboard.js"></script>
</head><body data-page="{page}">
<header><h1>{title}</h1><span id="who"></span>
<button id="forget" type="button">forget key</button></header>
<form id="login" hidden><label>API key <input id="key" type="password"
 autocomplete="off" required></label> <button type="submit">open</button>
<p id="login-error" class="error"></p></form>
<main id="main"><p class="muted">loading…</p></main>
</body></html>
"""


def dashboard_router() -> APIRouter:
    router = APIRouter(prefix="/dashboard", include_in_schema=False)

    @router.get("/accounts/{account}", response_class=HTMLResponse)
    def account_page(account: str) -> HTMLResponse:
        # the account is read by the script from the path, not written into the page
        return HTMLResponse(PAGE.format(title="Account usage", page="account"),
                            headers=HEADERS)

    @router.get("/ops", response_class=HTMLResponse)
    def ops_page() -> HTMLResponse:
        return HTMLResponse(PAGE.format(title="Operations", page="ops"), headers=HEADERS)

    @router.get("/simulations", response_class=HTMLResponse)
    def simulation_form() -> HTMLResponse:
        return HTMLResponse(PAGE.format(title="Price simulation", page="simulation"),
                            headers=HEADERS)

    @router.get("/simulations/{simulation_id}", response_class=HTMLResponse)
    def simulation_page(simulation_id: str) -> HTMLResponse:
        return HTMLResponse(PAGE.format(title="Price simulation", page="simulation"),
                            headers=HEADERS)

    @router.get("/static/dashboard.js")
    def script() -> FileResponse:
        return FileResponse(STATIC / "dashboard.js", media_type="text/javascript",
                            headers=HEADERS)

    @router.get("/static/dashboard.css")
    def stylesheet() -> FileResponse:
        return FileResponse(STATIC / "dashboard.css", media_type="text/css", headers=HEADERS)

    return router
