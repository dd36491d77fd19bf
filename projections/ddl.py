"""Schema migrations, applied idempotently at start.

Counters and peaks are views over the deduplicated usage log (FINAL), so they are exact
under any number of replays. usage_log is deliberately not partitioned: duplicates of one
event, even with different content, always meet in one part set that FINAL collapses.
`rejections` is the rejected records minus copies of events that were accepted (a copy
judged after the in-process dedup window forgot the first one, e.g. too late); the raw
`rejected_events` keeps every rejected record for audit. cycle_peaks covers every cycle
in which the account has any event: a gauge with no change in a cycle carries its level
in (opening = peak = end).

Identifiers (database, cluster, engine names) are templated; values never are. The same
statements serve chdb and a server; with a cluster set, engines become Replicated* and
every statement runs ON CLUSTER.
"""

from __future__ import annotations

from typing import Any

from projections.settings import ClickHouseSettings

_TABLES: list[tuple[str, str]] = [
    ("usage_log", """
CREATE TABLE IF NOT EXISTS {db}.usage_log {on_cluster} (
    account String,
    source String,
    id String,
    type LowCardinality(String),
    event_time DateTime64(6, 'UTC'),
    cycle_start DateTime('UTC'),
    cycle_end DateTime('UTC'),
    meters Array(LowCardinality(String)),
    kinds Array(LowCardinality(String)),
    quantities Array(Decimal(38, 9)),
    dim String,
    data String,
    src_partition UInt32,
    src_offset UInt64,
    received_at DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    version UInt64
) ENGINE = {replacing}(version)
ORDER BY (account, source, id)
SETTINGS non_replicated_deduplication_window = 1000
"""),
    ("rejected_events", """
CREATE TABLE IF NOT EXISTS {db}.rejected_events {on_cluster} (
    reason LowCardinality(String),
    detail String,
    topic String,
    src_partition UInt32,
    src_offset UInt64,
    received_at DateTime64(3, 'UTC'),
    raw String,
    raw_size UInt64,
    source String,
    id String,
    account String,
    type LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}()
ORDER BY (topic, src_partition, src_offset)
SETTINGS non_replicated_deduplication_window = 1000
"""),
    ("rejections", """
CREATE OR REPLACE VIEW {db}.rejections {on_cluster} AS
SELECT * FROM {db}.rejected_events FINAL
WHERE id = ''
   OR (account, source, id) NOT IN (SELECT account, source, id FROM {db}.usage_log FINAL)
"""),
    ("ingest_progress", """
CREATE TABLE IF NOT EXISTS {db}.ingest_progress {on_cluster} (
    consumer String,
    topic String,
    partition UInt32,
    next_offset UInt64,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}(next_offset)
ORDER BY (consumer, topic, partition)
"""),
    ("ingest_progress_watermark", """
ALTER TABLE {db}.ingest_progress {on_cluster}
ADD COLUMN IF NOT EXISTS watermark DateTime64(3, 'UTC') DEFAULT 0
"""),
    ("alerts", """
CREATE TABLE IF NOT EXISTS {db}.alerts {on_cluster} (
    id String,
    account String,
    product LowCardinality(String),
    plan String,
    meter LowCardinality(String),
    kind LowCardinality(String),
    threshold String,
    level Decimal(38, 9),
    value Decimal(38, 9),
    limit_value Nullable(Decimal(38, 9)),
    crossed_at DateTime64(6, 'UTC'),
    cycle_start DateTime('UTC'),
    cycle_end DateTime('UTC'),
    projected Decimal(38, 9),
    projected_overage_cost Decimal(38, 2),
    currency LowCardinality(String),
    exhausts_at Nullable(DateTime64(6, 'UTC')),
    src_offset Int64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}()
ORDER BY (account, id)
SETTINGS non_replicated_deduplication_window = 1000
"""),
    ("decisions", """
CREATE TABLE IF NOT EXISTS {db}.decisions {on_cluster} (
    id String,
    account String,
    product LowCardinality(String),
    meter LowCardinality(String),
    kind LowCardinality(String),
    reason LowCardinality(String),
    plan String,
    target_plan Nullable(String),
    limit_value Decimal(38, 9),
    capacity Decimal(38, 9),
    unit_price Decimal(38, 9),
    cost Decimal(38, 2),
    currency LowCardinality(String),
    pricebook String,
    at DateTime64(6, 'UTC'),
    effective Nullable(DateTime64(6, 'UTC')),
    cycle_start DateTime('UTC'),
    cycle_end DateTime('UTC'),
    src_offset Int64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}()
ORDER BY (account, id)
SETTINGS non_replicated_deduplication_window = 1000
"""),
    ("invoices", """
CREATE TABLE IF NOT EXISTS {db}.invoices {on_cluster} (
    invoice_id String,
    number String,
    series LowCardinality(String),
    seq UInt64,
    account String,
    kind LowCardinality(String),
    revision UInt32,
    cycle_start DateTime('UTC'),
    cycle_end DateTime('UTC'),
    issued_at DateTime64(6, 'UTC'),
    currency LowCardinality(String),
    total Decimal(38, 2),
    pricebook String,
    doc String,
    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}()
ORDER BY invoice_id
SETTINGS non_replicated_deduplication_window = 1000
"""),
    ("invoices_cycle_columns", """
ALTER TABLE {db}.invoices {on_cluster}
RENAME COLUMN IF EXISTS period_start TO cycle_start,
RENAME COLUMN IF EXISTS period_end TO cycle_end
"""),
    ("invoice_lines", """
CREATE TABLE IF NOT EXISTS {db}.invoice_lines {on_cluster} (
    invoice_id String,
    number String,
    account String,
    line_no UInt32,
    kind LowCardinality(String),
    product LowCardinality(String),
    meter Nullable(String),
    plan Nullable(String),
    description String,
    quantity Decimal(38, 9),
    unit_price Decimal(38, 9),
    amount Decimal(38, 2),
    period_start Nullable(DateTime('UTC')),
    period_end Nullable(DateTime('UTC'))
) ENGINE = {replacing}()
ORDER BY (invoice_id, line_no)
SETTINGS non_replicated_deduplication_window = 1000
"""),
    ("plan_changes", """
CREATE TABLE IF NOT EXISTS {db}.plan_changes {on_cluster} (
    id String,
    account String,
    product LowCardinality(String),
    from_plan Nullable(String),
    to_plan String,
    effective DateTime64(6, 'UTC'),
    reason LowCardinality(String),
    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}()
ORDER BY (account, id)
SETTINGS non_replicated_deduplication_window = 1000
"""),
    ("late_events", """
CREATE OR REPLACE VIEW {db}.late_events {on_cluster} AS
SELECT account, source, id, type, received_at, raw, detail FROM {db}.rejected_events FINAL
WHERE reason = 'too_late'
"""),
    ("payment_history", """
CREATE OR REPLACE VIEW {db}.payment_history {on_cluster} AS
SELECT number, account, issued_at, cycle_start, cycle_end, kind, revision, total, currency,
       arrayStringConcat(arrayDistinct(arrayFilter(x -> x != '',
           arrayMap(x -> JSONExtractString(x, 'plan'), JSONExtractArrayRaw(doc, 'lines')))),
           ',') AS plans,
       toDecimal128OrZero(JSONExtractString(doc, 'usage', 'contacts.peak'), 0) AS contacts,
       toDecimal128OrZero(JSONExtractString(doc, 'usage', 'email.sent'), 0) AS emails,
       toDecimal128OrZero(JSONExtractString(doc, 'usage', 'bandwidth.bytes'), 0) AS bandwidth
FROM {db}.invoices FINAL
"""),
    ("cycle_counters", """
CREATE OR REPLACE VIEW {db}.cycle_counters {on_cluster} AS
SELECT account, cycle_start, cycle_end, meter,
       if(any(kind) = 'distinct', toDecimal128(uniqExact(dim), 9), sum(q)) AS value,
       count() AS events
FROM {db}.usage_log FINAL
ARRAY JOIN meters AS meter, kinds AS kind, quantities AS q
WHERE kind IN ('sum', 'distinct')
GROUP BY account, cycle_start, cycle_end, meter
"""),
    ("cycle_peaks", """
CREATE OR REPLACE VIEW {db}.cycle_peaks {on_cluster} AS
WITH levels AS (
    SELECT account, meter, kind, cycle_start, cycle_end, event_time, source, id, q,
           if(kind = 'delta', sum(q) OVER w, q) AS level,
           if(kind = 'delta', (sum(q) OVER w) - q, lagInFrame(q, 1, 0) OVER w) AS before
    FROM {db}.usage_log FINAL
    ARRAY JOIN meters AS meter, kinds AS kind, quantities AS q
    WHERE kind IN ('delta', 'set')
    WINDOW w AS (PARTITION BY account, meter ORDER BY event_time, q, source, id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
active AS (
    SELECT account, meter, cycle_start, cycle_end,
           if(countIf(event_time <= cycle_start) > 0,
              argMaxIf(level, (event_time, q, source, id), event_time <= cycle_start),
              argMin(before, (event_time, q, source, id))) AS opening,
           if(countIf(event_time > cycle_start) > 0,
              greatest(opening, maxIf(level, event_time > cycle_start)), opening) AS peak,
           argMax(level, (event_time, q, source, id)) AS end_value,
           count() AS events
    FROM levels
    GROUP BY account, meter, cycle_start, cycle_end
),
cycles AS (
    SELECT DISTINCT account, cycle_start, cycle_end FROM {db}.usage_log FINAL
),
carried AS (
    SELECT c.account AS account, l.meter AS meter, c.cycle_start AS cycle_start,
           c.cycle_end AS cycle_end,
           argMax(l.level, (l.event_time, l.q, l.source, l.id)) AS carried_level
    FROM cycles AS c INNER JOIN levels AS l ON l.account = c.account
    WHERE l.event_time < c.cycle_start
    GROUP BY c.account, l.meter, c.cycle_start, c.cycle_end
)
SELECT account, meter, cycle_start, cycle_end, opening, peak, end_value, events FROM active
UNION ALL
SELECT account, meter, cycle_start, cycle_end, carried_level AS opening,
       carried_level AS peak, carried_level AS end_value, toUInt64(0) AS events
FROM carried
WHERE carried_level != 0
  AND (account, meter, cycle_start) NOT IN (SELECT account, meter, cycle_start FROM active)
"""),
]

def statements(settings: ClickHouseSettings) -> list[tuple[str, str]]:
    """(name, SQL) for every migration, in order, rendered for the target."""
    if settings.cluster:
        on_cluster = f"ON CLUSTER {settings.cluster}"
        replacing = "ReplicatedReplacingMergeTree"
    else:
        on_cluster, replacing = "", "ReplacingMergeTree"
    db = settings.database
    rendered = [("database", f"CREATE DATABASE IF NOT EXISTS {db} {on_cluster}")]
    for name, sql in _TABLES:
        rendered.append((name, sql.format(db=db, on_cluster=on_cluster, replacing=replacing)))
    return rendered


def migrate(client: Any, settings: ClickHouseSettings) -> list[str]:
    """Apply every migration; safe to run any number of times."""
    applied = []
    for name, sql in statements(settings):
        client.command(sql)
        applied.append(name)
    return applied
