"""ClickHouse projections of the event log: schema, idempotent sink, queries."""
