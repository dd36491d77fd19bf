"""One invoice of an account as a document for people: `GET
/v1/accounts/{a}/invoices/{number}.html` and `.pdf` (read right on the account, like the
invoice list). The invoice is looked up in the account's documents from
`billing.invoices` (`Feeds`) by number or invoice id, and rendered by
`projections.invoice_document`.
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependencies
# in the routes' annotations (closures) when the routes are defined.

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.auth import Access
from api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from api.feeds import Feeds
from projections.invoice_document import Printable, document_of
from schemas.errors import describe

# the page is ours, escaped, with an inline stylesheet and nothing else
DOCUMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
Number = Annotated[str, Path(min_length=1, max_length=128,
                             description="The invoice's number or invoice id.")]


def invoice_documents_router(access: Access, feeds: Feeds) -> APIRouter:
    router = APIRouter(prefix="/v1/accounts/{account}/invoices", tags=["accounts"],
                       responses={**ERROR_RESPONSES, 404: {
                           "model": ErrorBody, "description": "unknown_invoice"}, 422: {
                           "model": ErrorBody, "description": "invalid_invoice_document"}})
    Readable = Annotated[str, Depends(access.readable)]

    def find(account: str, number: str) -> Printable:
        for doc in feeds.invoices(account):
            if number in (doc.get("number"), doc.get("invoice_id")):
                try:
                    return document_of(doc)
                except ValidationError as exc:  # stored off the contract: say where
                    raise ApiError(422, "invalid_invoice_document",
                                   f"invoice {number!r} is not a valid invoice document: "
                                   f"{describe(exc, limit=1)}") from exc
        raise ApiError(404, "unknown_invoice", f"no invoice {number!r} of account {account!r}")

    def headers(number: str, ext: str) -> dict[str, str]:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in number)
        return {"Content-Security-Policy": DOCUMENT_CSP, "X-Content-Type-Options": "nosniff",
                "Content-Disposition": f'inline; filename="{safe}.{ext}"'}

    # the default response class stays JSON, so the error answers are documented as the
    # JSON they are; the 200 is declared as the document's own type
    @router.get("/{number}.html", responses={200: {"content": {"text/html": {}}}})
    def invoice_html(account: Readable, number: Number) -> HTMLResponse:
        """The invoice as an HTML page."""
        from projections.invoice_document import render_html

        return HTMLResponse(render_html(find(account, number)),
                            headers=headers(number, "html"))

    @router.get("/{number}.pdf", responses={200: {"content": {"application/pdf": {}}}})
    def invoice_pdf(account: Readable, number: Number) -> Response:
        """The invoice as an A4 PDF."""
        from projections.invoice_document import render_pdf

        return Response(render_pdf(find(account, number)), media_type="application/pdf",
                        headers=headers(number, "pdf"))

    return router
