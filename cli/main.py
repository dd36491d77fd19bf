"""`metering`: one command for every role and tool. Settings are read here, never at import."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from api.keys_cli import register as _register_api_keys
from cli import logs
from cli.billing import register as _register_billing
from cli.config import register as _register_config
from cli.context import bootstrap, deployment_books, err, fail, kafka, out
from cli.ops import register as _register_ops
from cli.rate import register as _register_rate
from cli.simulate import register as _register_simulate
from cli.sql import register as _register_sql
from infra.metrics import MetricsSettings

if TYPE_CHECKING:
    import faust

    from api.keys import KeyStore
    from api.settings import ApiSettings

app = typer.Typer(help="Usage metering pipeline.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
schemas_app = typer.Typer(help="Event JSON Schemas.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
_register_rate(app)
_register_simulate(app)
_register_billing(app)
_register_config(app)
_register_ops(app)
_register_sql(app)
_register_api_keys(app)
_fail, _kafka, _bootstrap = fail, kafka, bootstrap


@app.callback()
def main(log_level: Annotated[str, typer.Option(envvar="METERING_LOG_LEVEL")] = "INFO") -> None:
    logs.configure(log_level)


@app.command()
def up(brokers: Annotated[int, typer.Option(
        "--brokers", min=1, max=9, help="nodes of a local KRaft cluster (3: topics "
        "replicated 3 times, 2 in sync)")] = 1) -> None:
    """Start the local Kafka broker, or a local cluster, in the background (no-op with
    KAFKA_BOOTSTRAP_SERVERS)."""
    from cli.stack import local_broker, local_cluster

    k = _kafka()
    if k.bootstrap_servers:
        out.print(f"using {k.bootstrap_servers}; nothing to start")
        return
    if brokers == 1:
        broker = local_broker(k)
        if broker.pid_file.exists():
            out.print(f"broker already running (pid file {broker.pid_file})")
            return
        broker.start()
        out.print(f"broker up at {broker.bootstrap} (data {broker.data_dir})")
        return
    cluster = local_cluster(k, brokers)
    running = [n.pid_file for n in cluster.nodes if n.pid_file.exists()]
    if running or local_broker(k).pid_file.exists():
        out.print("a local broker is already running (`metering down` first)")
        return
    cluster.start()
    out.print(f"{brokers} brokers up (data {cluster.data_dir}/node-<n>); for every role:\n"
              f"  export KAFKA_BOOTSTRAP_SERVERS={cluster.bootstrap}")


@app.command()
def down() -> None:
    """Stop the local broker started by `metering up`."""
    from cli.stack import local_broker
    from infra.kafka_broker import stop_pid_files

    broker = local_broker(_kafka())
    pid_files = [broker.pid_file, *sorted(broker.data_dir.glob("node-*/broker.pid"))]
    stopped = stop_pid_files(pid_files)
    out.print(f"{stopped} broker(s) stopped" if stopped else "no local broker running")


@app.command()
def run() -> None:
    """Everything on the embedded default: broker, sink (owns chdb), one worker, the HTTP
    API, and webhook delivery when METERING_WEBHOOK_MASTER_SECRET is set."""
    from cli.stack import StackInfo, run_stack
    from projections.settings import ClickHouseSettings, SinkSettings
    from stream_processors.settings import ProcessorSettings

    roles = ["sink", "worker", "api"]
    if os.environ.get("METERING_WEBHOOK_MASTER_SECRET"):
        roles.append("webhooks")
    api, _ = _api_settings_and_keys(warn=False)  # a broken keys file fails here, first
    k, ch = _kafka(), ClickHouseSettings()
    data = k.data_dir.resolve()
    info = StackInfo(
        api_url=f"http://{api.host}:{api.port}",
        groups=(ProcessorSettings().app_id, SinkSettings().app_id),
        clickhouse=(f"embedded, data in {ch.embedded_path}" if ch.embedded
                    else f"server {ch.dsn.split('@')[-1]}"),
        kafka_data=None if k.bootstrap_servers else data / "kafka",
        logs=data / "log" if sys.stderr.isatty() else None,
        metrics=MetricsSettings().urls(roles))
    raise typer.Exit(run_stack(k, roles, info, lambda block: err.print(
        block, highlight=False, soft_wrap=True)))


@app.command()
def worker() -> None:
    """A stream-processor worker (Kafka only; run as many as partitions allow)."""
    from infra.clock import clock_from
    from schemas.topics import Topics
    from stream_processors.app import build_processor
    from stream_processors.settings import ProcessorSettings

    k = _kafka()
    settings = ProcessorSettings()
    rate_book, _, lateness = deployment_books(settings.rate_pricebook,
                                              settings.allowed_lateness_h)
    _ensure_topics()
    faust_app = build_processor(_bootstrap(), k.partitions, Topics(k.topic_prefix), settings,
                                rate_book, clock_from(settings.clock), lateness)
    MetricsSettings().serve("worker")
    _run_faust(faust_app)


def _api_settings_and_keys(warn: bool = True) -> tuple[ApiSettings, KeyStore]:
    """The API's settings and key store (METERING_API_KEYS_FILE, METERING_API_KEYS); with
    no key at all the API refuses every request and says how to make one."""
    from pydantic import ValidationError

    from api.keys import KeyConfigError, load_keys
    from api.settings import ApiSettings

    try:
        settings = ApiSettings()
        keys = load_keys(settings.keys_file, settings.keys)
    except (ValidationError, KeyConfigError) as exc:
        _fail(f"API keys: {exc}", "fix METERING_API_KEYS_FILE / METERING_API_KEYS "
                                  "(format in api/README.md)")
        raise  # unreachable: _fail exits
    if warn and not len(keys):
        err.print("[yellow]warning:[/yellow] no API keys configured: the HTTP API refuses "
                  "every request\n  -> `metering api-key new --name dev --read '*' --write "
                  "'*' > keys.yaml` and METERING_API_KEYS_FILE=keys.yaml")
    return settings, keys


@app.command()
def api() -> None:
    """The HTTP API (ingest, usage, limits, can-send, alerts, invoices); OpenAPI at /docs
    and /openapi.json; API keys from METERING_API_KEYS_FILE (api/README.md)."""
    from api.app import create_api
    from api.feeds import Feeds
    from api.ingest import IngestLimits
    from api.server import serve
    from api.simulations import KafkaSimulations
    from core.limits import limits_context
    from infra.clock import clock_from
    from pricing.pricebook_loader import load_pricebook
    from producers import MeteringProducer, ProducerSettings
    from schemas.topics import Topics
    from stream_processors.account_view import AccountView
    from stream_processors.settings import ProcessorSettings

    k = _kafka()
    (settings, keys), processor = _api_settings_and_keys(), ProcessorSettings()
    _ensure_topics()
    topics = Topics(k.topic_prefix)
    view = AccountView(_bootstrap(), topics.accounts).start()
    feeds = Feeds(_bootstrap(), topics, settings.feed_keep).start()
    simulations = KafkaSimulations(_bootstrap(), topics.simulation_requests,
                                   topics.simulations).start()
    ctx = limits_context(load_pricebook(processor.rate_pricebook))
    web = create_api(view, lambda: MeteringProducer(
        _bootstrap(), ProducerSettings(topic_prefix=k.topic_prefix, source="urn:metering:api")),
        ctx, clock_from(processor.clock), keys=keys, feeds=feeds,
        view_wait_s=settings.view_wait_s,
        limits=IngestLimits(settings.max_event_bytes, settings.max_batch_events,
                            settings.max_batch_bytes, settings.send_timeout_s),
        simulations=simulations)
    MetricsSettings().serve("api")
    try:
        serve(web, settings.host, settings.port, settings.server_limits())
    finally:
        simulations.close()
        feeds.close()
        view.close()


@app.command()
def webhooks() -> None:
    """Webhook delivery of alerts and decisions (needs METERING_WEBHOOK_MASTER_SECRET)."""
    from schemas.topics import Topics
    from stream_processors.account_view import AccountView
    from stream_processors.webhook_app import build_webhooks
    from stream_processors.webhooks import WebhookSettings

    k = _kafka()
    _ensure_topics()
    view = AccountView(_bootstrap(), Topics(k.topic_prefix).accounts).start()
    MetricsSettings().serve("webhooks")
    try:
        _run_faust(build_webhooks(_bootstrap(), k.partitions, Topics(k.topic_prefix),
                                  os.environ.get("METERING_WEBHOOK_APP_ID", "metering-webhooks"),
                                  WebhookSettings(), view))
    finally:
        view.close()


@app.command()
def sink() -> None:
    """The ClickHouse sink: applies migrations, then writes metered and rejected records."""
    from infra.clock import clock_from
    from projections.billing_app import Billing
    from projections.ddl import migrate
    from projections.executor import ClickHouseThread
    from projections.settings import ClickHouseSettings, SinkSettings
    from projections.sink_app import build_sink
    from schemas.topics import Topics
    from stream_processors.settings import ProcessorSettings

    k = _kafka()
    _ensure_topics()
    ch = ClickHouseThread(ClickHouseSettings())
    where = ch.settings.embedded_path or ch.settings.dsn.split("@")[-1]
    err.print(f"ClickHouse: {'embedded, data in' if ch.settings.embedded else 'server'} {where}")
    ch.call_sync(lambda client: migrate(client, ch.settings))
    processor = ProcessorSettings()
    rate_book, books, _ = deployment_books(processor.rate_pricebook,
                                           processor.allowed_lateness_h)
    billing = Billing(books, rate_book.name, clock_from(processor.clock))
    faust_app = build_sink(_bootstrap(), k.partitions, Topics(k.topic_prefix), SinkSettings(),
                           ch, billing)
    MetricsSettings().serve("sink")
    try:
        _run_faust(faust_app)
    finally:
        ch.close()


def _ensure_topics() -> None:
    """Every role creates the topics it needs (the accounts topic compacted): a worker or a
    sink started alone must not leave them to broker auto-creation."""
    from infra.topics import ensure_topics
    from schemas.topics import Topics

    k = _kafka()
    ensure_topics(_bootstrap(), Topics(k.topic_prefix), k.partitions)


def _run_faust(faust_app: faust.App) -> None:
    import faust

    w = faust.Worker(faust_app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    w.execute_from_commandline()


@app.command()
def migrate() -> None:
    """Apply the ClickHouse schema (idempotent)."""
    from projections.client import open_client
    from projections.ddl import migrate as apply
    from projections.settings import ClickHouseSettings

    s = ClickHouseSettings()
    out.print(", ".join(apply(open_client(s), s)))


@app.command()
def produce(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL events")],
    raw: Annotated[bool, typer.Option(help="Send lines unvalidated (replays)")] = False,
    retime: Annotated[bool, typer.Option(
        help="Shift every event by whole days so the latest is within the last day")] = False,
) -> None:
    """Produce a JSONL file of CloudEvents to the events topic."""
    from producers import InvalidEvent, MeteringProducer, ProducerSettings
    from producers.retime import retime as shift

    lines = file.read_bytes().splitlines()
    if retime:
        docs = [_loads(line) for line in lines if line.strip()]
        if not all(isinstance(d, dict) for d in docs):
            _fail("--retime needs every line to be a JSON object", "drop --retime")
        now = datetime.now(UTC)
        lines = [json.dumps(d).encode() for d in shift(docs, now)]  # type: ignore[arg-type]
    producer = MeteringProducer(_bootstrap(), ProducerSettings(topic_prefix=_kafka().topic_prefix))
    sent = 0
    with Progress(console=err) as progress:
        task = progress.add_task("producing", total=len(lines))
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if raw:
                doc = _loads(line)
                key = doc.get("subject") if isinstance(doc, dict) else None
                producer.send_raw(key.encode() if isinstance(key, str) else None, line)
            else:
                try:
                    producer.send(json.loads(line))
                except (InvalidEvent, json.JSONDecodeError) as exc:
                    producer.close()
                    _fail(f"line {number}: {exc}", "fix the line, or send with --raw")
            sent += 1
            progress.advance(task)
    producer.close()
    out.print(f"sent {sent} events")


def _loads(line: bytes) -> object:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError included
        return None


@app.command()
def usage(account: str, clickhouse: Annotated[bool, typer.Option(
        "--clickhouse", help="Read ClickHouse's cycle views instead (opening, peak, end "
                             "of every meter; embedded: stop `metering run` first)")] = False,
          chart: Annotated[Path | None, typer.Option(
              help="Also write the usage day by day against the allotment, with the "
                   "forecast, to this file (PNG; SVG for a .svg name)")] = None,
          ) -> None:
    """An account's current cycle: each limited meter against its plan's allotment (used,
    %, remaining), then every meter, from the live state the stream keeps in Kafka (works
    while the pipeline runs)."""
    from cli.ops import live_usage
    from projections.client import open_client
    from projections.queries import current_usage
    from projections.settings import ClickHouseSettings

    if clickhouse and chart is not None:
        _fail("--chart draws the live state; it does not combine with --clickhouse",
              "drop one of the two options")
    if not clickhouse:
        if not live_usage(account, chart):
            _fail(f"no live state for account {account!r}",
                  "check the account id, or produce its events (live state needs "
                  "METERING_LIMITS on); --clickhouse reads the stored counters")
        return
    s = ClickHouseSettings()
    result = current_usage(open_client(s), s.database, account)
    if result is None:
        _fail(f"no usage for account {account!r}", "check the account id, or produce events")
        return
    start, end, readings = result
    table = Table(title=f"{account}  cycle {start:%Y-%m-%d} .. {end:%Y-%m-%d}")
    for col in ("meter", "value", "opening", "peak", "at end"):
        table.add_column(col, justify="right" if col != "meter" else "left")
    for r in readings:
        table.add_row(r.meter, *(f"{v.normalize():f}" if v is not None else "" for v in
                                 (r.value, r.opening, r.peak, r.end_value)))
    out.print(table)


@schemas_app.command("export")
def schemas_export(
    directory: Annotated[Path, typer.Option()] = Path("schemas/json"),
    check: Annotated[bool, typer.Option(help="Fail if the files are not current")] = False,
) -> None:
    """Write (or check) the JSON Schema file of every event type."""
    from schemas.jsonschema_export import schemas_by_filename

    docs = schemas_by_filename()
    stale = [n for n, text in docs.items()
             if not (directory / n).exists() or (directory / n).read_text() != text]
    if check:
        if stale:
            _fail(f"stale schema files: {', '.join(stale)}", "run `metering schemas export`")
        out.print(f"{len(docs)} schema files current")
        return
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (directory / name).write_text(text)
    out.print(f"wrote {len(docs)} files to {directory}")



if __name__ == "__main__":
    sys.exit(app())
