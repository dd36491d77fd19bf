"""The dashboard in headless Chromium: the API runs (uvicorn, in a thread) over the same
fakes as tests/unit/test_dashboard.py; Chromium opens the account page with the key in
the URL fragment, runs its script, and the dumped DOM and a screenshot are checked.

Needs Debian's `chromium` (`make system-deps` installs it); without it the test fails."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from PIL import Image

from tests.unit.test_dashboard import FakeOps, dashboard_app

CHROMIUM = "/usr/bin/chromium"


def chromium() -> str:
    found = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed (/usr/bin/chromium): run `make system-deps` "
                    "or `apt-get install -y chromium`", pytrace=False)
    return found


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(dashboard_app(FakeOps())[0], host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def browse(url: str, *args: str) -> str:
    run = subprocess.run([chromium(), "--headless=new", "--disable-gpu", "--no-sandbox",
                          "--window-size=1280,900", "--virtual-time-budget=5000",
                          "--no-first-run", "--disable-extensions", *args, url],
                         capture_output=True, text=True, timeout=45)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_the_account_page_shows_usage_peaks_alerts_decisions_and_invoices(
        base_url: str, tmp_path: Path) -> None:
    url = f"{base_url}/dashboard/accounts/acme#key=k-acme"
    dom = browse(url, "--dump-dom")
    assert "Account acme" in dom and "key: acme-reader" in dom
    # usage against allotment: bars with the cycle-to-date values against the limits
    assert "56,000 / 70,000 (80.0%)" in dom and "140 / 7,000 (2.0%)" in dom
    assert "email · email.sent" in dom and 'class="used"' in dom
    # the alerts' crossing points on the cycle's timeline
    assert "email.sent 80% (2026-03-05 00:00)" in dom
    assert "email.sent forecast (2026-03-07 00:00)" in dom
    assert "<circle" in dom and "<polyline" in dom
    assert "cycle 2026-03-01 – 2026-04-01" in dom
    # usage day by day: one point per day (56,000 from 5 March), allotment and forecast
    assert 'data-meter="email.sent"' in dom and 'class="allotment"' in dom
    assert 'data-day="2026-03-04" data-value="0"' in dom
    assert 'data-day="2026-03-10" data-value="56000"' in dom
    assert dom.count('class="day"') == 2 * 10  # two limited meters, 1-10 March
    assert "56,000 now, forecast 182,737 of 70,000 · over on 2026-03-12" in dom
    # peaks, decisions and invoices with links to their documents
    assert "profiles.active" in dom
    assert "flex.purchased" in dom and "email-7k → email-8k" in dom and "USD 120.5" in dom
    assert "INV-2026-000007" in dom and "INV-2026-000008" not in dom  # globex's is not shown
    assert 'class="doc-html"' in dom and 'class="doc-pdf"' in dom
    assert "k-acme" not in dom  # the key left the address bar and the page

    shot = tmp_path / "account.png"
    browse(url, f"--screenshot={shot}")
    assert shot.is_file(), "no screenshot written"
    with Image.open(shot) as image:
        assert image.size == (1280, 900)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 50, f"the screenshot looks blank: {len(colours)} colours"
    shutil.copy(shot, Path("/tmp/dashboard-account.png"))


def test_a_key_of_another_account_sees_an_error_and_no_data(base_url: str) -> None:
    dom = browse(f"{base_url}/dashboard/accounts/acme#key=k-globex", "--dump-dom")
    assert "403 account_not_readable" in dom
    assert "56,000" not in dom


def test_the_ops_page_shows_lag_and_rejections_and_without_a_key_asks_for_one(
        base_url: str) -> None:
    dom = browse(f"{base_url}/dashboard/ops#key=k-ops", "--dump-dom")
    assert "Consumer lag (total 21)" in dom
    assert "metering-processor · t.usage.events [2]" in dom
    assert "unknown_type" in dom and ">12<" in dom
    dom = browse(f"{base_url}/dashboard/ops", "--dump-dom")
    assert 'id="login"' in dom and 'id="login" hidden' not in dom
    assert "Consumer lag" not in dom


def test_the_simulation_page_draws_the_reports_figures(base_url: str, tmp_path: Path) -> None:
    from tests.unit.test_dashboard import SIM_ID, sim_report

    report = sim_report()
    url = f"{base_url}/dashboard/simulations/{SIM_ID}#key=k-ops"
    dom = browse(url, "--dump-dom")
    assert "Simulation marketing_tiers@2025.1 → marketing_tiers@c1" in dom
    total = report.total
    assert (f"total USD {total.before:,} → {total.after:,} ({total.difference}, "
            f"{total.difference_pct}%)").replace(".00", "") in dom
    assert "changed products.email.plans.email-7k.fee: \"7000\" → \"6990\"" in dom
    # one pair of bars per month of the JSON, and its figures in the table
    assert dom.count('class="before"') == len(report.months) == 2
    assert dom.count('class="after"') == 2
    for m in report.months:
        assert f"<td>{m.month}</td>" in dom
    assert "-0.05%" in dom and "+0.07%" in dom
    # the accounts that lose and gain most, with what would change
    assert "<td>a-1</td>" in dom and "-20" in dom
    assert "new: email: flex at email.sent limit 70000 (email-7k -&gt; email-8k), cost 25.00" \
        in dom
    assert 'id="change-chart"' in dom and 'class="chart-png"' in dom

    dom = browse(f"{base_url}/dashboard/simulations#key=k-ops", "--dump-dom")
    assert 'id="sim-form"' in dom and 'id="sim-book"' in dom
    dom = browse(f"{base_url}/dashboard/simulations/{SIM_ID}#key=k-acme", "--dump-dom")
    assert "403 simulations_not_readable" in dom and "a-1" not in dom
