"""An invoice document as an A4 PDF (fpdf2).

Font: DejaVu Sans (Debian `fonts-dejavu-core`) when its TTF files are found, so most
Unicode prints as is; without it the core Helvetica font, whose latin-1 range is all it can
encode. Either way a character the font has no glyph for is transliterated (`ő` -> `o`,
`–` -> `-`) or printed as `?`, so rendering never fails on user-controlled text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC
from itertools import zip_longest
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import TableBordersLayout
from fpdf.fonts import FontFace, TTFFont

from projections.invoice_format import (
    COLUMNS,
    InvoiceView,
    LineView,
    Printable,
    instant,
    invoice_view,
)

FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
REPLACEMENTS = {
    "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...",
    "€": "EUR", "•": "*", "→": "->", "≤": "<=", "≥": ">=", "\t": " ",
}  # fmt: skip
COL_WIDTHS = (44, 16, 41, 26, 24, 29)  # mm, 180 = A4 width less 15 mm margins
MUTED = (110, 110, 110)
HEADINGS = FontFace(emphasis="BOLD", fill_color=(236, 236, 236))
BOLD = FontFace(emphasis="BOLD")


def _fallback(char: str) -> str:
    if char in REPLACEMENTS:
        return REPLACEMENTS[char]
    if unicodedata.category(char).startswith("C"):
        return " "
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and all(" " <= c <= "\xff" for c in base) else "?"


def safe_text(text: str, has_glyph: Callable[[str], bool]) -> str:
    """`text` with each character the font cannot print replaced; newlines are kept."""
    return "".join(
        c if c == "\n" or (has_glyph(c) and not unicodedata.category(c).startswith("C"))
        else _fallback(c)
        for c in text
    )  # fmt: skip


class _InvoicePDF(FPDF):
    def __init__(self, view: InvoiceView, font_dirs: Sequence[Path]) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.view = view
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        found = [next((d / f for d in font_dirs if (d / f).is_file()), None) for f in FONT_FILES]
        regular, bold = found
        if regular is not None:
            self.add_font("DejaVu", "", regular)
            self.add_font("DejaVu", "B", bold or regular)
            self.family = "DejaVu"
            font = self.fonts["dejavu"]
            cmap = set(font.cmap) if isinstance(font, TTFFont) else set(range(256))
            self.has_glyph: Callable[[str], bool] = lambda c: ord(c) in cmap
        else:
            self.family = "Helvetica"
            self.has_glyph = lambda c: c <= "\xff"

    def text_of(self, text: str) -> str:
        return safe_text(text, self.has_glyph)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, "", 8)
        self.set_text_color(*MUTED)
        label = self.text_of(f"Invoice {self.view.number} · page {self.page_no()}/{{nb}}")
        self.cell(0, 5, label, align="C")
        self.set_text_color(0)

    def heading(self, text: str) -> None:
        self.ln(4)
        self.set_font(self.family, "B", 11)
        self.multi_cell(0, 6, self.text_of(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font(self.family, "", 8.5)

    def top(self) -> None:
        view, width = self.view, self.epw / 2
        self.set_font(self.family, "B", 11)
        self.multi_cell(width, 5.5, self.text_of(view.seller_name), new_x="LEFT", new_y="NEXT")
        self.set_font(self.family, "", 8.5)
        self.set_text_color(*MUTED)
        for line in view.seller_address:
            self.multi_cell(width, 4.2, self.text_of(line), new_x="LEFT", new_y="NEXT")
        self.set_text_color(0)
        below_seller = self.y
        self.set_xy(self.l_margin + width, self.t_margin)
        self.set_font(self.family, "B", 20)
        self.cell(width, 9, "INVOICE", align="R", new_x="LEFT", new_y="NEXT")
        self.set_font(self.family, "B", 11)
        self.multi_cell(width, 5.5, self.text_of(view.number), align="R", new_y="NEXT")
        self.set_xy(self.l_margin, max(below_seller, self.y) + 6)
        self.set_font(self.family, "", 8.5)
        half = (len(view.facts) + 1) // 2
        pairs = zip_longest(view.facts[:half], view.facts[half:], fillvalue=("", ""))
        with self.table(
            col_widths=(26, 64, 21, 69), first_row_as_headings=False, line_height=4.6,
            borders_layout=TableBordersLayout.NONE, padding=(0.6, 1, 0.6, 0),
            v_align="TOP", text_align="LEFT",
        ) as table:  # fmt: skip
            for left, right in pairs:
                row = table.row()
                for label, value in (left, right):
                    row.cell(self.text_of(label), style=FontFace(color=MUTED))
                    row.cell(self.text_of(value))

    def lines(self, lines: Iterable[LineView], label: str, total: str) -> None:
        self.set_font(self.family, "", 8)
        with self.table(
            col_widths=COL_WIDTHS, headings_style=HEADINGS, line_height=4.1,
            borders_layout=TableBordersLayout.HORIZONTAL_LINES, padding=(1.2, 1.0),
            v_align="TOP", text_align="LEFT", repeat_headings=1,
        ) as table:  # fmt: skip
            heading = table.row()
            for i, name in enumerate(COLUMNS):
                heading.cell(name, align="R" if i >= 3 else "L")
            for line in lines:
                row = table.row()
                for i, text in enumerate(line.cells()):
                    row.cell(self.text_of(text), align="R" if i >= 3 else "L")
            row = table.row(style=BOLD)
            row.cell(self.text_of(label), colspan=5, align="R")
            row.cell(self.text_of(total), align="R")


def render_pdf(doc: Printable, *, font_dirs: Sequence[Path] = FONT_DIRS) -> bytes:
    """The invoice as PDF bytes; `font_dirs=()` forces the core Helvetica font."""
    view = invoice_view(doc)
    pdf = _InvoicePDF(view, font_dirs)
    # a fixed creation date (not "now") so one document always renders to the same bytes
    pdf.set_creation_date(instant(doc.invoice.issued_at or doc.invoice.cycle_end).astimezone(UTC))
    pdf.set_title(pdf.text_of(f"Invoice {view.number}"))
    pdf.set_author(pdf.text_of(view.seller_name))
    pdf.set_creator("metering")
    pdf.add_page()
    pdf.top()
    pdf.heading("Lines")
    pdf.lines(view.lines, "Total", view.total)
    if view.difference_title is not None:
        pdf.heading(view.difference_title)
        if view.difference:
            pdf.lines(view.difference, "Change", view.difference_total)
        else:
            pdf.multi_cell(0, 5, "No line changed.", new_x="LMARGIN", new_y="NEXT")
        if view.previous_total is not None:
            pdf.ln(2)
            text = pdf.text_of(f"Previous total: {view.previous_total}")
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
