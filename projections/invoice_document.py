"""Invoice documents for people: `render_html` (HTML5 page) and `render_pdf` (A4 PDF).

Both take a `Printable` (`document_of`: a published invoice read through the contract,
`schemas.billing.InvoiceDocument`, with the seller) and show the same content, built
once by `invoice_format.invoice_view`.
"""

from projections.invoice_format import Printable, document_of
from projections.invoice_html import render_html
from projections.invoice_pdf import render_pdf

__all__ = ["Printable", "document_of", "render_html", "render_pdf"]
