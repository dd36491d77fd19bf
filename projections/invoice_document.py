"""Invoice documents for people: `render_html` (HTML5 page) and `render_pdf` (A4 PDF).

Both take the stored invoice document (`Invoice.to_json_dict()` plus `number`, `series`,
`invoice_id`, `status`, optional `difference`, `previous_total`, `seller`) and show the
same content, built once by `invoice_format.invoice_view`.
"""

from projections.invoice_html import render_html
from projections.invoice_pdf import render_pdf

__all__ = ["render_html", "render_pdf"]
