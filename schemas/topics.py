"""Kafka topic names, in one place. A prefix lets tests and tenants run side by side."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    def _t(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def events(self) -> str:
        """Usage and account events, keyed by account id so each account is ordered."""
        return self._t("metering.events")

    @property
    def accounts(self) -> str:
        """Compacted: the latest state of every account, written by the processors."""
        return self._t("metering.accounts")

    @property
    def metered(self) -> str:
        return self._t("usage.metered")

    @property
    def rejected(self) -> str:
        return self._t("usage.rejected")

    @property
    def alerts(self) -> str:
        return self._t("metering.alerts")

    @property
    def decisions(self) -> str:
        return self._t("metering.decisions")

    @property
    def invoices(self) -> str:
        return self._t("billing.invoices")

    @property
    def invoice_candidates(self) -> str:
        """Invoices and plan changes proposed by projector runs: ONE partition, so that the
        ledger sees every proposal in one order and numbers each id once."""
        return self._t("billing.invoice-candidates")

    @property
    def webhooks_failed(self) -> str:
        """Alerts and decisions whose webhook delivery was given up (for an operator)."""
        return self._t("metering.webhooks.failed")

    @property
    def simulation_requests(self) -> str:
        """Price simulations asked for over HTTP, run by the process that owns ClickHouse."""
        return self._t("billing.simulation-requests")

    @property
    def simulations(self) -> str:
        """Compacted: the result of each simulation, keyed by its id."""
        return self._t("billing.simulations")

    def all(self) -> list[str]:
        return [self.events, self.accounts, self.metered, self.rejected, self.alerts,
                self.decisions, self.invoices, self.invoice_candidates, self.webhooks_failed,
                self.simulation_requests, self.simulations]

    def compacted(self) -> set[str]:
        return {self.accounts, self.simulations}

    def single_partition(self) -> set[str]:
        return {self.invoice_candidates, self.simulation_requests, self.simulations}
