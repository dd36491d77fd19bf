"""Invoice documents rendered as HTML and PDF, from real rated invoices."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pypdf import PdfReader

from pricing.aggregates import CycleAggregates
from pricing.cycles import cycle_containing
from pricing.invoice import Invoice, InvoiceLine, invoice_difference
from pricing.limits import decide_at_limit, decision_invoice
from pricing.pricebook_loader import load_pricebook
from pricing.rating import rate_cycle
from pricing.timeline import PlanInterval, PlanTimeline
from projections.invoice_document import Printable, document_of, render_html, render_pdf
from projections.invoice_format import money, period, quantity, unit_price
from projections.invoice_pdf import FONT_DIRS, FONT_FILES, safe_text

HAS_DEJAVU = any((d / FONT_FILES[0]).is_file() for d in FONT_DIRS)
CORE: tuple[Path, ...] = ()  # font_dirs that force the core Helvetica font
FONTS = [pytest.param(FONT_DIRS, id="dejavu"), pytest.param(CORE, id="helvetica")]


def utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def published(invoice: Invoice, number: str = "INV-2025-000042", **extra: Any
              ) -> dict[str, Any]:
    """The invoice as the ledger publishes it on `billing.invoices`."""
    revised = invoice.revision > 0
    return {"record": "invoice", **invoice.to_json_dict(), "invoice_id": "inv-0042",
            "series": number[:8], "number": number,
            "type": "invoice.revised" if revised else "invoice.issued", **extra}


def document(invoice: Invoice, number: str = "INV-2025-000042",
             seller: dict[str, Any] | None = None, **extra: Any) -> Printable:
    return document_of(published(invoice, number, **extra), seller)


def flex_invoice(account: str = "acct-1") -> Invoice:
    book = load_pricebook("marketing_tiers")
    decision = decide_at_limit(book, "email", "email-7k", "flex", Decimal(69_990), Decimal(70_001))
    cycle = cycle_containing(date(2025, 1, 10), utc(2025, 11, 20))
    invoice = decision_invoice(book, account, decision, cycle)
    assert invoice is not None
    return invoice


def package_invoice(emails: int) -> Invoice:
    """A cycle invoice of the package book: email overage in arrears plus next month's fee."""
    book = load_pricebook("package_plans")
    cycle = cycle_containing(date(2025, 1, 1), utc(2025, 3, 12))
    plan = PlanInterval("package", "starter", utc(2025, 1, 1))
    timeline = PlanTimeline("acct-7", date(2025, 1, 1), (plan,))
    values = {"package": {"contacts.peak": Decimal(100), "email.sent": Decimal(emails)}}
    return rate_cycle(book, timeline, cycle, CycleAggregates("acct-7", cycle, values, {})).invoice


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_amounts_quantities_and_periods_are_formatted() -> None:
    assert money("7245.4", "USD") == "USD 7,245.40"
    assert money(Decimal("-45.94"), "EUR") == "EUR -45.94"
    assert money("1234567.005", "USD") == "USD 1,234,567.01"  # half-up
    assert unit_price("4765", "USD") == "USD 4,765.00"
    assert unit_price("0.0035", "USD") == "USD 0.0035"
    assert quantity("10000") == "10,000" and quantity("1.50") == "1.5"
    assert period("2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z") == "1 Mar 2025 – 31 Mar 2025"


def test_html_of_the_flex_purchase() -> None:
    invoice = flex_invoice()
    page = render_html(document(invoice))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "INV-2025-000042" in page and "acct-1" in page
    assert "USD 1,000.00" in page and "10,000" in page and "USD 0.10" in page
    assert invoice.lines[0].description == "flex: email-7k -> email-8k"
    assert "flex: email-7k -&gt; email-8k" in page
    assert "10 Nov 2025 – 9 Dec 2025" in page and "Immediate" in page
    assert "Difference to revision" not in page
    assert "Metering Demo Inc." in page  # placeholder seller by default


def test_html_of_a_cycle_invoice_shows_each_line() -> None:
    invoice = package_invoice(16_001)
    assert {x.kind for x in invoice.lines} == {"base_fee", "overage"}
    page = render_html(document(invoice, seller={"name": "Acme GmbH", "address": ["Weg 1"]}))
    for line in invoice.lines:
        assert (line.description or "Overage") in page
        assert money(line.amount, "USD") in page
    assert money(invoice.total, "USD") in page and "1 Mar 2025 – 31 Mar 2025" in page
    assert "Acme GmbH" in page and "Metering Demo" not in page


def test_hostile_values_are_escaped() -> None:
    hostile = '<script>alert("x")</script>'
    line = InvoiceLine("adjustment", "p&q", None, Decimal(1), Decimal(1), Decimal(1),
                       description='<img src=x onerror="boom">')
    invoice = Invoice(hostile, utc(2025, 3, 1), utc(2025, 4, 1), "cycle", "USD", (line,),
                      pricebook="<b>book</b>")
    page = render_html(document(invoice))
    assert "<script>" not in page and "<img" not in page and "<b>book" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;boom&quot;&gt;" in page and "p&amp;q" in page


def test_revision_shows_the_difference_and_the_previous_total() -> None:
    old = package_invoice(16_001)
    new = package_invoice(18_001)
    diff = invoice_difference(old, new)
    assert diff
    revised = Invoice(new.account, new.cycle_start, new.cycle_end, new.kind, new.currency,
                      tuple(diff), new.pricebook, new.issued_at, revision=2)
    doc = document(revised, "REV-2025-000007", previous_total=format(old.total, "f"),
                   rerated_lines=[x.to_json_dict() for x in new.lines],
                   rerated_total=format(new.total, "f"), replaces="inv-0041")
    assert doc.status == "revised" and doc.lines[0].kind in {"base_fee", "overage"}
    page = render_html(doc)
    change = new.total - old.total
    assert "Difference to revision 1" in page and diff[0].description in page
    assert f"Previous total: <strong>{money(old.total, 'USD')}</strong>" in page
    assert money(change, "USD") in page
    text = pdf_text(render_pdf(doc))
    assert "Difference to revision 1" in text and money(old.total, "USD") in text


@pytest.mark.parametrize("fonts", FONTS)
def test_pdf_of_the_flex_purchase(fonts: tuple[Path, ...]) -> None:
    data = render_pdf(document(flex_invoice("acct-<42>")), font_dirs=fonts)
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "INV-2025-000042" in text and "acct-<42>" in text and "USD 1,000.00" in text
    assert len(PdfReader(io.BytesIO(data)).pages) == 1


def test_pdf_bytes_are_the_same_for_the_same_document() -> None:
    doc = document(flex_invoice())
    assert render_pdf(doc) == render_pdf(doc)


def test_many_lines_flow_onto_more_pages() -> None:
    lines = tuple(
        InvoiceLine("overage", "email", "email.sent", Decimal(i), Decimal("0.1"),
                    Decimal(i) / 10, description=f"line {i} " + "long words " * (i % 12))
        for i in range(1, 121)
    )  # fmt: skip
    invoice = Invoice("acct-9", utc(2025, 3, 1), utc(2025, 4, 1), "cycle", "USD", lines)
    data = render_pdf(document(invoice))
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) > 1
    # the table header is repeated at the top of every page
    assert all("Unit price" in page.extract_text() for page in reader.pages)
    assert money(invoice.total, "USD") in reader.pages[-1].extract_text()


@pytest.mark.parametrize("fonts", FONTS)
def test_non_latin_text_never_breaks_the_pdf(fonts: tuple[Path, ...]) -> None:
    text = "Zoë 😀 发票 “quotes” – ő\x00\tend"
    line = InvoiceLine("credit", "seats", None, Decimal(1), Decimal(-5), Decimal(-5),
                       description=text)
    invoice = Invoice("zoë-账户", utc(2025, 3, 1), utc(2025, 4, 1), "immediate", "EUR", (line,))
    data = render_pdf(document(invoice, seller={"name": "Société 🚀", "address": []}),
                      font_dirs=fonts)
    extracted = pdf_text(data)
    assert "Zoë" in extracted and "end" in extracted and "EUR -5.00" in extracted
    assert "发票" in render_html(document(invoice))


def test_safe_text_replaces_what_the_font_cannot_print() -> None:
    latin1 = lambda c: c <= "\xff"  # noqa: E731
    assert safe_text("Zoë – “ő” 😀\n发", latin1) == 'Zoë - "o" ?\n?'
    assert safe_text("a\x00b\x07c", lambda c: True) == "a b c"


@pytest.mark.skipif(not HAS_DEJAVU, reason="DejaVu Sans is not installed")
def test_dejavu_prints_unicode_that_helvetica_cannot() -> None:
    line = InvoiceLine("adjustment", "p", None, Decimal(1), Decimal(1), Decimal(1),
                       description="Ωmega – ő")
    invoice = Invoice("a", utc(2025, 3, 1), utc(2025, 4, 1), "cycle", "USD", (line,))
    assert "Ωmega – ő" in pdf_text(render_pdf(document(invoice)))
    assert "?mega - o" in pdf_text(render_pdf(document(invoice), font_dirs=CORE))


def test_the_credit_balance_left_is_shown_on_the_document() -> None:
    page = render_html(document(package_invoice(10), credit_balance="129.94"))
    assert "Credit balance left" in page and "USD 129.94" in page
    assert "Credit balance left" not in render_html(document(package_invoice(10)))


@pytest.mark.parametrize("change", [
    {"number": "<b>INV</b>"}, {"total": 12.5}, {"cycle_start": "March"}, {"lines": None},
    {"period_start": "2025-03-01T00:00:00Z"},
])
def test_a_document_off_the_contract_is_refused(change: dict[str, Any]) -> None:
    """The documents read the typed record (`schemas.billing.InvoiceDocument`): a stored
    document that is not one is refused with the field at fault, never half rendered."""
    with pytest.raises(ValidationError) as refused:
        document_of({**published(flex_invoice()), **change})
    assert next(iter(change)) in str(refused.value)


def test_the_cli_names_the_field_of_a_document_off_the_contract(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`metering invoice show --html` / `pdf` of such a document exits 2 with the reason."""
    import typer

    from cli.billing import _printable

    assert _printable("INV-2025-000042", published(flex_invoice())).invoice.total == "1000.00"
    with pytest.raises(typer.Exit) as stopped:
        _printable("INV-2025-000042", {**published(flex_invoice()), "total": 12.5})
    assert stopped.value.exit_code == 2
    assert "total" in capsys.readouterr().err
