"""The shipped Prometheus alert rules (issue 17, item 2): `promtool check rules` accepts
them and `promtool test rules` runs their unit tests (infra/prometheus/rules_test.yml:
each rule firing on the series that should fire it, and quiet on a healthy one)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "infra" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


@pytest.fixture(scope="module")
def promtool() -> str:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool is not installed: `make system-deps` installs Debian's "
                    "prometheus package")
    return PROMTOOL


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=RULES, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_rules_are_valid(promtool: str) -> None:
    done = run("check", "rules", "rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout


def test_the_rules_fire_as_their_unit_tests_say(promtool: str) -> None:
    done = run("test", "rules", "rules_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
