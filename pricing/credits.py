"""The account's credit balance (what a mid-period downgrade leaves) applied to invoices.

Later invoices consume the balance in issue order: each takes at most its own total, as a
`credit` line "credit balance applied"; what is left waits for the next one."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from pricing.invoice import Invoice, InvoiceLine
from pricing.money import ZERO


def apply_credit(invoice: Invoice, balance: Decimal) -> tuple[Invoice, Decimal]:
    """(the invoice with the credit it uses, the balance left)."""
    total = invoice.total
    used = min(balance, total) if total > 0 else ZERO
    if used <= 0:
        return invoice, balance
    line = InvoiceLine("credit", "account", None, Decimal(1), -used, -used,
                       description="credit balance applied")
    return replace(invoice, lines=(*invoice.lines, line)), balance - used
