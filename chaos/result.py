"""What one scenario run found: the checker's counts, the faults with their recovery
times, processes that died on their own, and pass / fail."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.check import Check
from chaos.harness import Exit, Fault
from chaos.invoice_check import InvoiceCheck


@dataclass
class Result:
    scenario: str
    number: int
    title: str
    profile: str
    seed: int
    check: Check | None = None
    invoices: InvoiceCheck | None = None
    """Scenario 7's checker (invoices, not events)."""
    faults: list[Fault] = field(default_factory=list)
    planned_faults: int = 0
    exits: list[Exit] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    producer_resets: int = 0
    """Times the generator replaced a producer that stopped answering (chaos/sender.py)."""
    drain_s: float | None = None
    max_stall_s: float = 0.0
    duration_s: float = 0.0
    error: str | None = None
    workdir: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def recoveries(self) -> list[float | None]:
        return [f.recovery_s for f in self.faults]

    @property
    def max_recovery_s(self) -> float | None:
        done = [r for r in self.recoveries if r is not None]
        return max(done) if done else None

    @property
    def passed(self) -> bool:
        checked = (self.check is not None and self.check.exact) or \
            (self.invoices is not None and self.invoices.exact)
        return (self.error is None and checked and len(self.faults) == self.planned_faults
                and all(r is not None for r in self.recoveries))

    def failures(self) -> list[str]:
        """Why it failed, in words (empty when it passed)."""
        out = [] if self.error is None else [self.error]
        c = self.check
        if c is not None:
            out += [f"{n} {what}" for what, n in (
                ("lost", c.lost), ("duplicated", c.duplicated), ("unexpected", c.unexpected),
                ("counter/peak cells differ from the oracle", c.oracle_mismatches)) if n]
        i = self.invoices
        if i is not None:
            out += [f"{n} {what}" for what, n in (
                ("invoices lost", i.lost), ("invoices duplicated", i.duplicated),
                ("invoices unexpected", i.unexpected),
                ("invoice numbers missing or repeated", i.number_faults),
                ("proposals left for a further projector run", i.second_run)) if n]
        if len(self.faults) != self.planned_faults:
            out.append(f"{len(self.faults)} of {self.planned_faults} faults injected")
        out += [f"no recovery after {f.kind} at {f.at_s}s" for f in self.faults
                if f.recovery_s is None]
        return out

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.invoices is not None:
            out["invoices"]["exact"] = self.invoices.exact
        check = out.pop("check")
        if self.check is not None:
            check.update(lost=self.check.lost, unexpected=self.check.unexpected,
                         oracle_mismatches=self.check.oracle_mismatches)
        out["check"] = check
        out["recovery_s"] = self.recoveries
        out["max_recovery_s"] = self.max_recovery_s
        out["passed"] = self.passed
        out["failures"] = self.failures()
        return out


@dataclass
class Placeholder:
    """A scenario written elsewhere (listed so the report keeps its place)."""

    scenario: str
    number: int
    title: str
    where: str

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": None, "run": False}
