"""`metering rate` on the example logs of pricing/examples: the worked examples' exact figures.

The command is registered on a local Typer app (cli/main.py wires it into `metering`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from cli.rate import register

EXAMPLES = Path(__file__).resolve().parents[2] / "pricing" / "examples"
runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


def rate(example: str, book: str, until: str, tmp_path: Path, *extra: str,
         code: int = 0) -> tuple[list[dict[str, Any]], str]:
    out = tmp_path / "out.jsonl"
    events = example if "/" in example else str(EXAMPLES / example)
    result = runner.invoke(_app(), ["rate", "--pricebook", book, "--events", events,
                                    "--until", until, "--out", str(out), *extra])
    assert result.exit_code == code, result.output
    return [json.loads(line) for line in out.read_text().splitlines()], result.stderr


def invoices(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["record"] == "invoice" and r["kind"] == kind]


def amounts(invoice: dict[str, Any]) -> dict[tuple[str, str | None], tuple[str, str, str]]:
    return {(line["kind"], line["meter"]): (line["quantity"], line["unit_price"],
                                            line["amount"]) for line in invoice["lines"]}


def test_flex_purchase_costs_1000_dollars(tmp_path: Path) -> None:
    records, stderr = rate("flex_1000.jsonl", "marketing_tiers", "2025-04-01T00:00:00Z",
                           tmp_path)
    first_fee, flex = invoices(records, "immediate")
    assert first_fee["total"] == "7000.00"
    assert amounts(flex) == {("flex_purchase", "email.sent"): ("10000", "0.100000", "1000.00")}
    assert flex["total"] == "1000.00" and flex["issued_at"] == "2025-03-20T09:00:00Z"
    decision, = (r for r in records if r["record"] == "limit_decision")
    assert (decision["action"], decision["target_plan"], decision["limit"]) == (
        "flex", "email-8k", "80000")
    cycle, = invoices(records, "cycle")
    assert cycle["usage"]["email.sent"] == "75000"  # the duplicate counted once
    assert cycle["total"] == "7000.00"  # next cycle's fee; flex is not repeated
    assert "1 duplicates" in stderr


def test_sms_to_50_us_and_50_ca_costs_200_credits(tmp_path: Path) -> None:
    records, stderr = rate("sms_200_credits.jsonl", "marketing_tiers",
                           "2025-04-01T00:00:00Z", tmp_path, "--allow-rejections")
    cycle, = invoices(records, "cycle")
    assert cycle["usage"] == {"sms.credits": "200"}  # skipped and inbound cost nothing
    assert "rejected unknown_country: 1" in stderr


def test_carts_billed_on_peak_per_category_without_proration(tmp_path: Path) -> None:
    records, _ = rate("carts_peak.jsonl", "peak_carts", "2025-04-11T00:00:00Z", tmp_path)
    february, march = invoices(records, "cycle")
    assert (february["cycle_start"], february["total"]) == ("2025-02-10T00:00:00Z", "25.00")
    assert (march["cycle_start"], march["cycle_end"]) == ("2025-03-10T00:00:00Z",
                                                          "2025-04-10T00:00:00Z")
    assert amounts(march) == {("usage_fee", "carts.standard"): ("3", "25", "75.00"),
                              ("usage_fee", "carts.premium"): ("1", "50", "50.00")}
    assert march["total"] == "125.00"
    assert not invoices(records, "immediate")


def test_until_rates_only_cycles_that_have_ended(tmp_path: Path) -> None:
    records, _ = rate("carts_peak.jsonl", "peak_carts", "2025-04-09T23:59:59Z", tmp_path)
    assert [r["cycle_start"] for r in invoices(records, "cycle")] == ["2025-02-10T00:00:00Z"]


def test_storage_overage_in_whole_gb_with_per_seat_allowances(tmp_path: Path) -> None:
    records, _ = rate("storage_overage.jsonl", "seats_storage", "2025-04-01T00:00:00Z",
                      tmp_path)
    cycle, = invoices(records, "cycle")
    assert cycle["usage"]["storage.data.bytes"] == "4100000000"
    assert cycle["usage"]["storage.attachments.bytes"] == "20200000000"
    assert cycle["usage"]["seats.full_time.end"] == "10"
    lines = amounts(cycle)
    assert lines[("overage", "storage.data.bytes")] == ("1", "50", "50.00")
    assert lines[("overage", "storage.attachments.bytes")] == ("3", "1", "3.00")
    storage = sum(float(line["amount"]) for line in cycle["lines"]
                  if line["product"] == "storage")
    assert storage == 53.0


def test_seat_added_mid_month_is_prorated_then_billed_in_full(tmp_path: Path) -> None:
    records, _ = rate("seat_proration.jsonl", "seats_storage", "2025-04-01T00:00:00Z",
                      tmp_path)
    opening, added = invoices(records, "immediate")
    assert amounts(opening) == {("proration", None): ("10", "89", "890.00")}  # from day 1
    assert amounts(added) == {("proration", None): ("1", "89", "45.94")}  # 16 of 31 days
    cycle, = invoices(records, "cycle")
    assert amounts(cycle) == {("base_fee", None): ("11", "89", "979.00")}


def test_plan_changes_on_seats_prorate_and_a_downgrade_credit_is_used_up(tmp_path: Path
                                                                         ) -> None:
    """Issue 15 item 1 (failed before: no proration of plan changes, no credit, the
    reduction of the 25th was taken). 10 seats, March 2025 (31 days), by hand:
    professional 89 -> ultimate 179 on the 2nd: 90 x 10 x 30/31 = 870.97 at once; back on
    the 3rd: 90 x 10 x 29/31 = 841.94 of credit; 2 seats on the 22nd: 2 x 89 x 10/31 =
    57.42 (immediate invoices take no credit); fewer seats "now" on the 25th: refused;
    8 seats for the renewal: April's fee 8 x 89 = 712.00 is all credit (129.94 left), May's
    takes the rest: 712.00 - 129.94 = 582.06."""
    rejected = tmp_path / "rejected.jsonl"
    records, stderr = rate("seat_plan_change.jsonl", "seats_storage", "2025-05-01T00:00:00Z",
                           tmp_path, "--rejected", str(rejected), code=1)
    assert "rejected seat_reduction_before_renewal: 1" in stderr
    refused, = map(json.loads, rejected.read_text().splitlines())
    assert (refused["line"], refused["id"]) == (6, "acme-plan-6")
    assert "cannot be reduced before renewal" in refused["detail"]
    opening, upgrade, added = invoices(records, "immediate")
    assert amounts(opening) == {("proration", None): ("10", "89", "890.00")}
    assert amounts(upgrade) == {("proration", None): ("10", "90", "870.97")}
    assert amounts(added) == {("proration", None): ("2", "89", "57.42")}
    april, may = invoices(records, "cycle")
    assert amounts(april) == {("base_fee", None): ("8", "89", "712.00"),
                              ("credit", None): ("1", "-712", "-712.00")}
    assert (april["total"], april["credit_balance"]) == ("0.00", "129.94")
    assert amounts(may)[("credit", None)] == ("1", "-129.94", "-129.94")
    assert (may["total"], may["credit_balance"]) == ("582.06", "0.00")
    assert [(r["from_plan"], r["to_plan"]) for r in records if r["record"] == "plan_change"
            ] == [("professional", "ultimate"), ("ultimate", "professional")]


def test_the_annual_term_prorates_over_the_contract_and_renews_after_12_months(
        tmp_path: Path) -> None:
    """5 seats on the annual term (948 a seat) from 2025-03-01: 4,740.00 at once; one more
    on 2025-09-01: 948 x 181/365 = 470.10; fewer on 2025-10-01 (a monthly boundary, not the
    contract's renewal): refused; the renewal on 2026-03-01 bills 6 x 948 = 5,688.00."""
    records, stderr = rate("seat_annual_term.jsonl", "seats_storage", "2026-03-01T00:00:00Z",
                           tmp_path, "--allow-rejections")
    assert "rejected seat_reduction_before_renewal: 1" in stderr
    opening, added = invoices(records, "immediate")
    assert (opening["cycle_start"], opening["cycle_end"]) == ("2025-03-01T00:00:00Z",
                                                              "2026-03-01T00:00:00Z")
    assert amounts(opening) == {("proration", None): ("5", "948", "4740.00")}
    assert amounts(added) == {("proration", None): ("1", "948", "470.10")}
    renewal, = invoices(records, "cycle")
    assert amounts(renewal) == {("base_fee", None): ("6", "948", "5688.00")}


def test_rejected_lines_are_counted_and_never_stop_the_run(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    good = (EXAMPLES / "carts_peak.jsonl").read_text()
    log.write_text("not json\n" + good + '{"specversion": "1.0"}\n\n' + '"\\ud800"\n')
    rejected = tmp_path / "rejected.jsonl"
    records, stderr = rate(str(log), "peak_carts", "2025-04-11T00:00:00Z", tmp_path,
                           "--rejected", str(rejected), code=1)  # not every event rated
    assert len(invoices(records, "cycle")) == 2
    assert "rejected malformed_json: 2" in stderr
    assert "rejected missing_account: 1" in stderr
    last = len(good.splitlines()) + 2
    assert [(r["line"], r["reason"]) for r in map(json.loads, rejected.read_text().splitlines())
            ] == [(1, "malformed_json"), (last, "missing_account"), (last + 2, "malformed_json")]
    again, _ = rate(str(log), "peak_carts", "2025-04-11T00:00:00Z", tmp_path,
                    "--allow-rejections")
    assert again == records


def test_a_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    log = tmp_path / "bom.jsonl"
    log.write_bytes(b"\xef\xbb\xbf" + (EXAMPLES / "carts_peak.jsonl").read_bytes())
    records, stderr = rate(str(log), "peak_carts", "2025-04-11T00:00:00Z", tmp_path)
    assert len(invoices(records, "cycle")) == 2 and "0 rejected" in stderr


def test_usage_before_its_subscription_line_is_named(tmp_path: Path) -> None:
    lines = (EXAMPLES / "carts_peak.jsonl").read_text().splitlines()
    log = tmp_path / "late-subscription.jsonl"
    log.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    _, stderr = rate(str(log), "peak_carts", "2025-04-11T00:00:00Z", tmp_path, code=1)
    assert "1 line(s) precede their account's subscription (lines 1)" in stderr


def test_output_goes_to_stdout_without_out_and_records_are_distinguished() -> None:
    result = runner.invoke(_app(), ["rate", "--pricebook", "marketing_tiers", "--events",
                                    str(EXAMPLES / "flex_1000.jsonl"), "--until",
                                    "2025-04-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    kinds = [json.loads(line)["record"] for line in result.stdout.splitlines()]
    assert kinds == ["invoice", "limit_decision", "invoice", "invoice"]


def test_a_bad_until_or_price_book_is_a_usage_error(tmp_path: Path) -> None:
    events = str(EXAMPLES / "flex_1000.jsonl")
    bad_time = runner.invoke(_app(), ["rate", "--pricebook", "marketing_tiers", "--events",
                                      events, "--until", "2025-04-01"])
    assert bad_time.exit_code == 2
    bad_book = runner.invoke(_app(), ["rate", "--pricebook", str(tmp_path / "none.yaml"),
                                      "--events", events, "--until", "2025-04-01T00:00:00Z"])
    assert bad_book.exit_code == 2


def test_seasonal_seats_are_bought_whole_per_window_and_never_refunded(
        tmp_path: Path) -> None:
    """Issue 15 item 1 (failed before: seasonal windows were never priced). The April 2025
    window at 60 a seasonal seat (illustrative): 3 seats bought on 2025-03-10 (180.00),
    raised to 5 on 04-05 (2 more, 120.00), cut to 4 on 04-20 (no refund), restated as 8
    at 2025-05-01 00:00, the instant the window closed (nothing: a closed window is not
    sold). The full-time cycles bill 10 x 89 each, the seasonal seats nothing there."""
    records, _ = rate("seasonal_window.jsonl", "seats_storage", "2025-05-01T00:00:00Z",
                      tmp_path)
    seasonal = [i for i in invoices(records, "immediate")
                if any(line["kind"] == "seasonal_seats" for line in i["lines"])]
    assert [amounts(i) for i in seasonal] == [
        {("seasonal_seats", None): ("3", "60", "180.00")},
        {("seasonal_seats", None): ("2", "60", "120.00")}]
    assert {(i["cycle_start"], i["cycle_end"]) for i in seasonal} == {
        ("2025-04-01T00:00:00Z", "2025-05-01T00:00:00Z")}
    cycles = invoices(records, "cycle")
    assert cycles and all(amounts(c) == {("base_fee", None): ("10", "89", "890.00")}
                          for c in cycles)


def test_cycle_invoices_are_issued_after_the_lateness_with_every_meter_and_description(
        tmp_path: Path) -> None:
    """Issue 15 item 7 (failed before: issued_at was the cycle end, overage and usage-fee
    lines had no description, a cycle without usage showed `usage: {}`). The book's
    lateness is 24 h: the March cycle ending 2025-04-01 is issued 2025-04-02; April,
    with no email sent, still reports its meters at 0; storage overage lines say what
    is over."""
    records, _ = rate("flex_1000.jsonl", "marketing_tiers", "2025-05-02T00:00:00Z",
                      tmp_path)
    march, april = invoices(records, "cycle")
    assert (march["cycle_end"], march["issued_at"]) == ("2025-04-01T00:00:00Z",
                                                       "2025-04-02T00:00:00Z")
    assert april["usage"] == {"email.sent": "0", "profiles.active.peak": "0"}
    assert march["usage"]["email.sent"] == "75000"
    storage, _ = rate("storage_overage.jsonl", "seats_storage", "2025-04-02T00:00:00Z",
                      tmp_path)
    cycle, = invoices(storage, "cycle")
    described = {line["meter"]: line["description"] for line in cycle["lines"]}
    assert described["storage.data.bytes"] == "storage.data.bytes: 350,000,000 over the limit"
    assert all(line["description"] for r in storage + records if r["record"] == "invoice"
               for line in r["lines"])
