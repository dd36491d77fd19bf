"""An invoice document as a self-contained HTML5 page; every value goes through html.escape."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from projections.invoice_format import COLUMNS, InvoiceView, LineView, Printable, invoice_view

STYLE = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; margin: 2em auto;
       max-width: 60em; font-size: 14px; }
header { display: flex; justify-content: space-between; align-items: flex-start; }
h1 { margin: 0; font-size: 1.8em; } h2 { font-size: 1.1em; margin: 1.6em 0 0.4em; }
.seller { color: #555; } .seller strong { color: #222; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.2em; }
dl.facts dt { color: #666; } dl.facts dd { margin: 0; }
table { width: 100%; border-collapse: collapse; }
th, td { padding: 0.35em 0.5em; border-bottom: 1px solid #ddd; vertical-align: top;
         text-align: left; overflow-wrap: anywhere; }
th { background: #f2f2f2; } .num { text-align: right; white-space: nowrap; }
.detail { color: #777; font-size: 0.85em; }
tfoot td { font-weight: bold; border-bottom: none; }
@media print { body { margin: 0; } thead { display: table-header-group; } }
"""
NUM = ' class="num"'


def _line_row(line: LineView) -> str:
    detail = f'<div class="detail">{escape(line.detail)}</div>' if line.detail else ""
    cells = [f"<td>{escape(line.description)}{detail}</td>"]
    cells += [f"<td>{escape(x)}</td>" for x in (line.product, line.meter)]
    cells += [f"<td{NUM}>{escape(x)}</td>" for x in line.cells()[3:]]
    return f"<tr>{''.join(cells)}</tr>"


def _table(lines: Iterable[LineView], label: str, total: str) -> str:
    head = "".join(
        f"<th{NUM if i >= 3 else ''}>{escape(c)}</th>" for i, c in enumerate(COLUMNS)
    )
    body = "\n".join(_line_row(x) for x in lines)
    foot = f'<tr><td colspan="5">{escape(label)}</td><td{NUM}>{escape(total)}</td></tr>'
    return (
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n"
        f"<tfoot>{foot}</tfoot>\n</table>"
    )


def _difference(view: InvoiceView) -> str:
    if view.difference_title is None:
        return ""
    parts = [f"<h2>{escape(view.difference_title)}</h2>"]
    if view.difference:
        parts.append(_table(view.difference, "Change", view.difference_total))
    else:
        parts.append("<p>No line changed.</p>")
    if view.previous_total is not None:
        parts.append(f"<p>Previous total: <strong>{escape(view.previous_total)}</strong></p>")
    return "\n".join(parts)


def render_html(doc: Printable) -> str:
    view = invoice_view(doc)
    address = "".join(f"<br>{escape(x)}" for x in view.seller_address)
    facts = "\n".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in view.facts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Invoice {escape(view.number)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<div class="seller"><strong>{escape(view.seller_name)}</strong>{address}</div>
<h1>Invoice {escape(view.number)}</h1>
</header>
<dl class="facts">
{facts}
</dl>
<h2>Lines</h2>
{_table(view.lines, "Total", view.total)}
{_difference(view)}
</body>
</html>
"""
