"""Invoice documents for people: `render_html` (HTML5 page) and `render_pdf` (A4 PDF).

Both take the stored invoice document (`Invoice.to_json_dict()` plus `number`, `series`,
`invoice_id`, `status`, optional `difference`, `previous_total`, `seller`) and show the
same content, built once by `invoice_format.invoice_view`.
"""

from typing import Any

from projections.invoice_html import render_html
from projections.invoice_pdf import render_pdf

__all__ = ["document_of", "render_html", "render_pdf"]


def document_of(doc: dict[str, Any]) -> dict[str, Any]:
    """An issued invoice (as on `billing.invoices`) in the shape the renderers take: a
    revision shows its full re-rated lines, and its difference lines as the difference."""
    return {**doc, "status": "revised" if doc.get("revision", 0) else "issued",
            "difference": doc["lines"] if doc.get("revision", 0) else None,
            "lines": doc.get("rerated_lines") or doc["lines"]}
