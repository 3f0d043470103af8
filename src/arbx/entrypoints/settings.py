"""Typed settings: the defaults below, then config/default.toml, config/<profile>.toml and
ARBX_* variables.

This schema is the one place where a setting's default is written: the config files hold only
what differs, and adapters take every tunable from here (their constructors have no defaults
of their own for them). Unknown keys and ill-typed values fail at start-up with the key's
dotted name ("http.port: expected int, got 'eighty'").
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import msgspec

from arbx.adapters.postgres.urls import redact
from arbx.domain.alerts import AlertRule, AlertRuleSpec, RuleOrigin
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.errors import InvalidInput
from arbx.domain.jobs import JobDefinition, JobOrigin, JobSpec
from arbx.domain.market.retention import RetentionRule

Profile = Literal["local", "server"]
DEFAULT_PROFILE: Profile = "local"


class HttpSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8000
    # the most bars one GET /api/v1/bars page returns; ask for the rest with the cursor
    max_page_rows: int = 10_000
    # the largest request body accepted (bulk uploads), in bytes
    max_body_bytes: int = 64 * 1024 * 1024
    # browser origins allowed to call the API (CORS); empty: closed
    cors_origins: list[str] = msgspec.field(default_factory=list)
    # reverse proxies (addresses or CIDR networks) whose X-Forwarded-For / Forwarded headers
    # name the client; empty: the headers are ignored and the TCP peer is the client
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    # GET /ready: each check (a store, the database) fails after this many seconds without
    # an answer, so the probe never hangs
    ready_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError("port must be between 1 and 65535")
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies entry {entry!r} is not an IP address or CIDR network"
                ) from None
        if self.max_page_rows < 1:
            raise ValueError("max_page_rows must be >= 1")
        if not self.ready_timeout_s > 0:
            raise ValueError("ready_timeout_s must be > 0 seconds")


class S3Settings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """[storage.s3]: how arbx reaches S3-compatible object storage (bars_url, backups and
    exports at s3:// URLs). Each empty value falls back to its AWS_* variable
    (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); keep the secret
    in the environment (ARBX_STORAGE__S3__SECRET_ACCESS_KEY or AWS_SECRET_ACCESS_KEY) rather
    than in a file. ``allow_http``: plain http endpoints (a local MinIO)."""

    endpoint: str = ""
    region: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    allow_http: bool = False

    def __repr__(self) -> str:
        return f"S3Settings(endpoint={self.endpoint!r}, region={self.region!r}, secrets=***)"


class StorageSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # where the local profile keeps Parquet bars and the SQLite file (relative to the working
    # dir); the server profile keeps its generated secrets file here
    data_dir: str = "var"
    # memory for decoded Parquet month files kept between reads, per process (0: no cache)
    bars_cache_bytes: int = 256 * 1024 * 1024
    # "s3://bucket/prefix": the local profile's bars in an S3-compatible bucket instead of
    # <data_dir>/bars; credentials, region and endpoint from the usual AWS_* variables
    # (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP)
    bars_url: str = ""
    # "s3://bucket/prefix": the recorded trades (arbx stream) in a bucket instead of
    # <data_dir>/trades, reached as bars_url is
    trades_url: str = ""
    # "s3://bucket/prefix": the recorded quotes and book updates in a bucket instead of
    # <data_dir>/quotes and <data_dir>/books, reached as bars_url is
    books_url: str = ""
    s3: S3Settings = msgspec.field(default_factory=S3Settings)

    def __post_init__(self) -> None:
        if self.bars_cache_bytes < 0:
            raise ValueError("bars_cache_bytes must be >= 0 (0 disables the cache)")
        for name, url in (
            ("bars_url", self.bars_url),
            ("trades_url", self.trades_url),
            ("books_url", self.books_url),
        ):
            if url and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?", url):
                raise ValueError(f"{name} must be s3://BUCKET or s3://BUCKET/PREFIX (or empty)")


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """'7d', '12h', '1w', '90m', '30s' -> timedelta; ValueError naming the accepted forms."""
    match = _DURATION_RE.match(text)
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{text!r} is not a positive duration; use e.g. 7d, 12h, 1w, 90m")
    return timedelta(seconds=float(match[1]) * _DURATION_UNITS[match[2]])


class DatabaseSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """[database]: the server profile's PostgreSQL (TimescaleDB when the extension exists).

    Times are seconds. ``startup_retry_s`` bounds the start-up wait for the server (retries
    with backoff, then a clear error: never a hang or a crash loop); ``statement_timeout_s``
    0 leaves the server's default. Once an acquire times out or a connection breaks and a
    fresh connection fails too, data routes answer 503 at once (no acquire wait) and a probe
    retries every ``probe_interval_s`` until the server answers. ``timescale``: auto (use it when available), require (fail
    without it), off (plain PostgreSQL even when it is there). TimescaleDB only:
    ``chunk_interval`` (hypertable chunk size), ``compress_after_days`` (chunks older than
    this are compressed), ``continuous_aggregates`` (1h/1d rollups of the 1m bars; plain
    PostgreSQL gets ``date_bin`` views instead). ``migrate_on_start``: apply pending
    migrations at ``arbx serve`` start-up; false: refuse to start until ``arbx db upgrade``.
    Every arbx table lives in ``schema``.
    """

    url: str = "postgresql://postgres@127.0.0.1:5432/arbx"
    schema: str = "arbx"
    pool_min_size: int = 1
    pool_max_size: int = 10
    connect_timeout_s: float = 5.0
    acquire_timeout_s: float = 10.0
    statement_timeout_s: float = 60.0
    startup_retry_s: float = 30.0
    probe_interval_s: float = 1.0
    migrate_on_start: bool = True
    timescale: Literal["auto", "require", "off"] = "auto"
    chunk_interval: str = "7d"
    compress_after_days: int = 30
    continuous_aggregates: bool = True

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", self.schema):
            raise ValueError("schema must be 1-63 lowercase letters, digits or '_', e.g. arbx")
        if not 0 <= self.pool_min_size <= self.pool_max_size or self.pool_max_size < 1:
            raise ValueError("pool sizes need 0 <= pool_min_size <= pool_max_size, max >= 1")
        timeouts = (
            self.connect_timeout_s,
            self.acquire_timeout_s,
            self.startup_retry_s,
            self.probe_interval_s,
        )
        if min(timeouts) <= 0:
            raise ValueError(
                "connect_timeout_s, acquire_timeout_s, startup_retry_s, probe_interval_s must"
                " be > 0"
            )
        if self.statement_timeout_s < 0 or self.compress_after_days < 1:
            raise ValueError("statement_timeout_s must be >= 0 and compress_after_days >= 1")
        try:
            parse_duration(self.chunk_interval)
        except ValueError as exc:
            raise ValueError(f"chunk_interval: {exc}") from None

    def __repr__(self) -> str:
        return f"DatabaseSettings(url={redact(self.url)!r}, schema={self.schema!r}, ...)"

    @property
    def chunk_interval_delta(self) -> timedelta:
        return parse_duration(self.chunk_interval)


class LoggingSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # text: one readable line; json: one JSON object a line with trace, span and request ids
    format: Literal["text", "json"] = "text"


class TelemetrySettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """[telemetry]: OpenTelemetry spans and metrics (see README, Observability and alerts).

    ``enabled`` false records nothing (and GET /metrics answers 404). ``metrics_access``:
    ``permission`` (callers with observability:read), ``public`` (anybody who reaches the
    port: bind it privately) or ``off``. ``metrics_port`` (0: none) serves GET /metrics with no
    credentials on a port of its own, on ``metrics_host`` (127.0.0.1 by default: bind a private
    interface), beside whatever ``metrics_access`` says for the API's port. ``otlp_endpoint`` (e.g. http://127.0.0.1:4318)
    receives spans and metrics over OTLP/HTTP; empty: nothing leaves the process.
    ``traces`` false keeps the metrics and makes no spans; ``sample_ratio`` is the share of
    traces exported (a trace's spans go together). Every response carries the
    request id in ``request_id_header`` (a caller's own value of it is kept when it is
    1-64 letters, digits, '-', '_' or '.')."""

    enabled: bool = True
    service_name: str = "arbx"
    traces: bool = True
    metrics_access: Literal["permission", "public", "off"] = "permission"
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    otlp_endpoint: str = ""
    otlp_headers: dict[str, str] = msgspec.field(default_factory=dict)
    otlp_interval_s: float = 15.0
    otlp_timeout_s: float = 5.0
    sample_ratio: float = 1.0
    request_id_header: str = "X-Request-ID"

    def __post_init__(self) -> None:
        if self.otlp_endpoint and not self.otlp_endpoint.startswith(("http://", "https://")):
            raise ValueError("otlp_endpoint must start with http:// or https:// (or be empty)")
        if not (self.otlp_interval_s > 0 and self.otlp_timeout_s > 0):
            raise ValueError("otlp_interval_s and otlp_timeout_s must be > 0")
        if not 0.0 <= self.sample_ratio <= 1.0:
            raise ValueError("sample_ratio must be between 0 and 1")
        if not 0 <= self.metrics_port <= 65535:
            raise ValueError("metrics_port must be a port number (0: no metrics port)")
        if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", self.request_id_header):
            raise ValueError("request_id_header must be a header name, e.g. X-Request-ID")

    def __repr__(self) -> str:
        return f"TelemetrySettings(enabled={self.enabled!r}, otlp={self.otlp_endpoint!r}, ...)"


class SigningKeySettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    kid: str
    secret: str

    def __repr__(self) -> str:
        return f"SigningKeySettings(kid={self.kid!r}, secret=***)"


class RateLimitSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A token bucket of one route group ([auth.rate_limits.<group>]), per client address and
    per principal: ``burst`` requests at once, refilled at ``per_minute``."""

    per_minute: int
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute < 1 or self.burst < 1:
            raise ValueError("per_minute and burst must be >= 1")


def _default_rate_limits() -> dict[str, RateLimitSettings]:
    return {
        "auth": RateLimitSettings(per_minute=20, burst=10),
        "read": RateLimitSettings(per_minute=6000, burst=600),
        "write": RateLimitSettings(per_minute=600, burst=100),
        "compute": RateLimitSettings(per_minute=60, burst=20),
        "admin": RateLimitSettings(per_minute=300, burst=60),
    }


class AuthSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Sign-in, tokens and limits. Secrets (signing keys, the hash key) come from here or from
    ``secrets_file``; the local profile creates that file on first start, the server profile
    refuses to start without them."""

    # access-token issuer and audience (checked on every token)
    issuer: str = "arbx"
    audience: str = "arbx-api"
    # newest first: the first signs, all verify (rotation: put the new key first; remove the
    # old one after access_ttl_s), e.g. [{ kid = "2025-01", secret = "<48+ characters>" }]
    signing_keys: list[SigningKeySettings] = msgspec.field(default_factory=list)
    # HMAC key for refresh tokens and API keys (changing it invalidates them all)
    secret_hash_key: str = ""
    # TOML file with [auth] signing_keys/secret_hash_key; relative paths are under data_dir
    secrets_file: str = "secrets.toml"
    access_ttl_s: int = 900
    refresh_ttl_s: int = 7 * 86400
    max_session_s: int = 30 * 86400
    # argon2id (RFC 9106 second profile); raising them rehashes passwords at the next sign-in
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    # reuse looked-up accounts and API keys this long (revocation takes effect within it)
    principal_cache_s: float = 2.0
    # sign-in: after login_free_failures failures per username, each failure doubles the wait
    login_free_failures: int = 5
    login_base_delay_s: float = 1.0
    login_max_delay_s: float = 900.0
    rate_limits: dict[str, RateLimitSettings] = msgspec.field(default_factory=_default_rate_limits)

    def __repr__(self) -> str:
        return f"AuthSettings(issuer={self.issuer!r}, audience={self.audience!r}, secrets=***)"


class VenueSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One venue's public market-data API: where, how hard to try, how fast, when to stop.

    ``weight_per_minute`` is Binance's request-weight budget (klines cost 2, exchangeInfo
    20); ``requests_per_second`` and ``burst`` are the token bucket of Coinbase and Kraken
    (each venue uses what applies). ``base_url`` may point at a mirror or a testnet.
    Requests retry time-outs, 5xx, 429 and 418 with exponential backoff and jitter
    (``attempts``, ``base_delay_s`` .. ``max_delay_s``), honouring Retry-After up to
    ``max_retry_after_s``. After ``breaker_threshold`` consecutive failures a venue's circuit
    opens for ``breaker_cooldown_s`` (then one probe request may go through); the state shows
    in /ready and GET /api/v1/exchanges. Public market data needs no keys.
    """

    base_url: str = ""
    enabled: bool = True
    timeout_s: float = 15.0
    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    max_retry_after_s: float = 90.0
    requests_per_second: float = 10.0
    burst: float = 15.0
    weight_per_minute: float = 6000.0
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if self.attempts < 1 or self.breaker_threshold < 1:
            raise ValueError("attempts and breaker_threshold must be >= 1")
        if min(self.timeout_s, self.requests_per_second, self.burst, self.weight_per_minute) <= 0:
            raise ValueError("timeout_s, requests_per_second, burst, weight_per_minute must be > 0")


class BinanceSettings(VenueSettings, forbid_unknown_fields=True, frozen=True):
    base_url: str = "https://api.binance.com"


class CoinbaseSettings(VenueSettings, forbid_unknown_fields=True, frozen=True):
    base_url: str = "https://api.exchange.coinbase.com"


class KrakenSettings(VenueSettings, forbid_unknown_fields=True, frozen=True):
    # note: Kraken's live OHLC endpoint serves only the latest 720 intervals of each timeframe
    base_url: str = "https://api.kraken.com"
    requests_per_second: float = 1.0
    burst: float = 3.0


class ExchangesSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """[exchanges.<venue>] per venue, plus the limits of one backfill (POST /api/v1/ingest)."""

    binance: BinanceSettings = msgspec.field(default_factory=BinanceSettings)
    coinbase: CoinbaseSettings = msgspec.field(default_factory=CoinbaseSettings)
    kraken: KrakenSettings = msgspec.field(default_factory=KrakenSettings)
    # bars one API backfill may span (the CLI has no limit); ingests running at once
    ingest_max_bars: int = 2_000_000
    ingest_concurrency: int = 4
    # bars validated and written together (an interruption refetches at most one batch)
    batch_rows: int = 10_000
    # the settle window at the live edge, in intervals: holes there are pending (asked again),
    # stored bars there are fetched again and replaced if the venue changed them
    settle_bars: int = 3

    def __post_init__(self) -> None:
        if self.ingest_max_bars < 1 or self.ingest_concurrency < 1 or self.batch_rows < 1:
            raise ValueError("ingest_max_bars, ingest_concurrency and batch_rows must be >= 1")
        if self.settle_bars < 0:
            raise ValueError("settle_bars must be >= 0")


class BacktestSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """[backtest]: which POST /api/v1/backtests runs answer at once, the worker pool of the
    others, and fee schedules per venue that replace the built-in defaults (lowest public spot
    tier, in basis points of notional, for binance, binanceus, coinbase and kraken), e.g.
    ``[backtest.fees.kraken] maker_bps = 25.0, taker_bps = 40.0``."""

    # runs reading fewer bars (all series together) are computed before the answer
    inline_max_bars: int = 200_000
    # worker processes for larger runs (started on the first one, with spawn)
    pool_workers: int = 2
    # per venue: {maker_bps, taker_bps}; a request's own "fees" win over these
    fees: dict[str, FeeSchedule] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.inline_max_bars < 0 or self.pool_workers < 1:
            raise ValueError("inline_max_bars must be >= 0 and pool_workers >= 1")


class ComputeSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """[compute]: where sweeps and background backtests run. Empty: a local process pool
    ([backtest] pool_workers); ``scheduler = "tcp://host:8786"``: a Dask distributed
    cluster (the workers need arbx installed, the same version)."""

    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.scheduler is not None and not self.scheduler.startswith(
            ("tcp://", "tls://", "inproc://", "ucx://")
        ):
            raise ValueError(
                f"scheduler must be a Dask address like tcp://host:8786, got {self.scheduler!r}"
            )


class OptimizeSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """[optimize]: optimization studies (``arbx optimize``, POST /api/v1/optimizations)."""

    # most trials of one study: a larger grid (or trials count) is refused with its size
    max_trials: int = 10_000
    # batches of trials computed at once when a study gives no --jobs
    jobs: int = 2
    # a study or walk-forward run by another host whose heartbeat (renewed every quarter
    # lease) is older than this is taken for orphaned and shown interrupted
    lease_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.max_trials < 1 or self.jobs < 1:
            raise ValueError("max_trials and jobs must be >= 1")
        if not self.lease_seconds > 0:
            raise ValueError("lease_seconds must be > 0")


class SchedulerSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """[scheduler]: the job scheduler of ``arbx serve`` and the jobs declared in the config
    (``[[scheduler.jobs]]``, the fields of ``JobSpec``; checked here, so a bad job fails at
    start-up naming it). A job runs at most once at a time. Jobs declared here are kept in
    the store as config-<name>; edit them here and restart (pause/resume also works over the
    API). One table per job, e.g.::

        [[scheduler.jobs]]
        name = "collect-btc-1m"
        kind = "collect"                     # collect, validate, repair or retain
        markets = { exchanges = ["binance", "kraken"], symbols = ["BTC/USDC"], timeframes = ["1m"] }
        interval_s = 60                      # or cron = "*/5 * * * *"
        lookback_bars = 1440
    """

    enabled: bool = True
    # a firing missed by at most this long (a busy loop, a suspended laptop) still runs, once
    misfire_grace_s: int = 60
    # at shutdown, runs in flight get this long to finish; then they are cancelled
    shutdown_grace_s: float = 10.0
    # how often jobs changed by the CLI (in the store) are picked up; 0: only at start
    reconcile_s: float = 30.0
    jobs: list[JobSpec] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.misfire_grace_s <= 0 or self.shutdown_grace_s < 0 or self.reconcile_s < 0:
            raise ValueError("misfire_grace_s must be > 0, shutdown_grace_s and reconcile_s >= 0")
        seen: set[str] = set()
        for index, spec in enumerate(self.jobs):
            try:
                JobDefinition.from_spec(
                    spec, id="config-check", origin=JobOrigin.CONFIG, created_at=_CHECKED_AT
                )
            except InvalidInput as exc:
                raise ValueError(f"jobs[{index}] ({spec.name!r}): {exc.message}") from None
            if spec.name in seen:
                raise ValueError(f"jobs[{index}]: job name {spec.name!r} appears twice")
            seen.add(spec.name)


class StrategiesSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """[strategies]: strategy plugins (``arbx.strategy``). The CLI loads them from ``paths``
    (folders of ``*.py`` files, relative to the working directory) and, with
    ``entry_points``, from installed packages' ``arbx.strategies`` entry points. ``arbx
    serve`` loads them only with ``load_in_server = true`` (off by default: plugins are code
    run by the server; an admin turns it on). ``paths`` may also be one text of folders
    separated like PATH (``ARBX_STRATEGIES__PATHS=./strategies:examples/strategies``)."""

    paths: list[str] | str = msgspec.field(default_factory=lambda: ["./strategies"])
    entry_points: bool = True
    load_in_server: bool = False
    # a plugin's run is stopped (a failed run) past this many seconds; 0: no limit. Checked
    # between calls into the plugin (every bar for per-bar and event plugins)
    time_limit_s: float = 600.0

    def __post_init__(self) -> None:
        if not (self.time_limit_s >= 0):
            raise ValueError("time_limit_s must be >= 0 (0: no limit)")

    @property
    def folders(self) -> list[str]:
        if isinstance(self.paths, str):
            return [p for p in self.paths.split(os.pathsep) if p]
        return list(self.paths)


class CatalogSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """[catalog]: the strategy catalog's workflow. ``four_eyes``: approving a version needs
    an approver other than its author."""

    four_eyes: bool = False


_CHECKED_AT = datetime(2000, 1, 1, tzinfo=UTC)


class AlertChannelSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One ``[alerts.channels.<name>]``: ``kind = "webhook"`` (``url``, optional ``secret``
    for the HMAC signature, ``format`` json or slack) or ``kind = "email"`` (``host``,
    ``port``, ``starttls``, optional ``username``/``password``, ``sender``, ``to``, and
    ``ca_file``: a PEM bundle trusted for STARTTLS instead of the system store, e.g. a
    company CA)."""

    kind: Literal["webhook", "email"]
    url: str = ""
    secret: str = ""
    format: Literal["json", "slack"] = "json"
    host: str = ""
    port: int = 587
    starttls: bool = True
    username: str = ""
    password: str = ""
    sender: str = ""
    to: list[str] = msgspec.field(default_factory=list)
    timeout_s: float = 10.0
    ca_file: str = ""

    def __post_init__(self) -> None:
        if self.kind == "webhook" and not self.url.startswith(("http://", "https://")):
            raise ValueError("a webhook channel needs url = http(s)://...")
        if self.kind == "email":
            if not self.host or not self.sender or not self.to:
                raise ValueError("an email channel needs host, sender and to")
            if not 0 < self.port < 65536:
                raise ValueError("port must be between 1 and 65535")
        if not self.timeout_s > 0:
            raise ValueError("timeout_s must be > 0")

    def __repr__(self) -> str:
        return f"AlertChannelSettings(kind={self.kind!r}, secrets=***)"


class AlertsSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """[alerts]: rules evaluated every ``evaluate_s`` by ``arbx serve`` (``[[alerts.rules]]``
    take the fields of ``AlertRuleSpec``: name, kind, threshold, match, severity, cooldown_s,
    channels, enabled; kept as config-<name>), and the channels notified. A delivery is tried
    ``attempts`` times with backoff from ``base_delay_s`` to ``max_delay_s``."""

    enabled: bool = True
    evaluate_s: float = 30.0
    attempts: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    rules: list[AlertRuleSpec] = msgspec.field(default_factory=list)
    channels: dict[str, AlertChannelSettings] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.evaluate_s > 0 or self.attempts < 1 or self.base_delay_s < 0:
            raise ValueError("evaluate_s must be > 0, attempts >= 1 and base_delay_s >= 0")
        for name in self.channels:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
                raise ValueError(f"channel name {name!r}: use lowercase letters, digits, _ or -")
        seen: set[str] = set()
        for index, spec in enumerate(self.rules):
            try:
                AlertRule.from_spec(
                    spec,
                    id="config-check",
                    origin=RuleOrigin.CONFIG,
                    created_at=_CHECKED_AT,
                    known_channels=frozenset(self.channels),
                )
            except InvalidInput as exc:
                raise ValueError(f"rules[{index}] ({spec.name!r}): {exc.message}") from None
            if spec.name in seen:
                raise ValueError(f"rules[{index}]: rule name {spec.name!r} appears twice")
            seen.add(spec.name)


class Settings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    profile: Profile = DEFAULT_PROFILE
    http: HttpSettings = msgspec.field(default_factory=HttpSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    exchanges: ExchangesSettings = msgspec.field(default_factory=ExchangesSettings)
    backtest: BacktestSettings = msgspec.field(default_factory=BacktestSettings)
    scheduler: SchedulerSettings = msgspec.field(default_factory=SchedulerSettings)
    telemetry: TelemetrySettings = msgspec.field(default_factory=TelemetrySettings)
    optimize: OptimizeSettings = msgspec.field(default_factory=OptimizeSettings)
    strategies: StrategiesSettings = msgspec.field(default_factory=StrategiesSettings)
    catalog: CatalogSettings = msgspec.field(default_factory=CatalogSettings)
    compute: ComputeSettings = msgspec.field(default_factory=ComputeSettings)
    alerts: AlertsSettings = msgspec.field(default_factory=AlertsSettings)
    # [[retention]] kind = "bars"  timeframe = "1m"  keep_days = 730 (domain/market/retention.py)
    retention: list[RetentionRule] = msgspec.field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir)


# Short names for the variables users set most.
_ALIASES = {
    "ARBX_DATABASE_URL": "database.url",
    "ARBX_PROFILE": "profile",
    "ARBX_DATA_DIR": "storage.data_dir",
}
_IGNORED_ENV = {"ARBX_CONFIG_DIR", "ARBX_TEST_DATABASE_URL"}


def default_config_dir() -> Path:
    """ARBX_CONFIG_DIR, else ./config, else the config/ next to the source tree."""
    if env := os.environ.get("ARBX_CONFIG_DIR"):
        return Path(env)
    cwd = Path.cwd() / "config"
    if (cwd / "default.toml").is_file():
        return cwd
    return Path(__file__).resolve().parents[3] / "config"


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("ARBX_") or name in _IGNORED_ENV:
            continue
        dotted = _ALIASES.get(name) or name[5:].lower().replace("__", ".")
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"config file {path} is not valid TOML: {exc}", field="config") from exc


def load_settings(
    config_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read defaults, then the profile file, then the environment, then ``overrides``."""
    environ = os.environ if environ is None else environ
    config_dir = config_dir or default_config_dir()
    # The rate-limit groups are a table keyed by group: a file or variable that sets one group
    # (ARBX_AUTH__RATE_LIMITS__READ__BURST=...) is merged over the others, not a replacement.
    data: dict[str, Any] = {"auth": {"rate_limits": msgspec.to_builtins(_default_rate_limits())}}
    default_file = config_dir / "default.toml"
    if default_file.is_file():
        data = _merge(data, _read_toml(default_file))
    env = _env_overrides(environ)
    chosen = profile or env.get("profile") or data.get("profile", DEFAULT_PROFILE)
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", str(chosen)):
        raise InvalidInput(f"profile {chosen!r} is not a valid profile name", field="profile")
    profile_file = config_dir / f"{chosen}.toml"
    if profile_file.is_file():
        data = _merge(data, _read_toml(profile_file))
    elif profile is not None or "profile" in env:
        raise InvalidInput(
            f"profile {chosen!r} has no file {profile_file}; use local, server or test",
            field="profile",
        )
    data = _merge(data, env)
    if overrides:
        data = _merge(data, overrides)
    try:
        return msgspec.convert(data, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"bad setting: {_dotted(str(exc))}", field="settings") from exc


def _dotted(message: str) -> str:
    """'Expected `int`, got `str` - at `$.http.port`' -> 'http.port: expected `int`, got `str`'."""
    match = re.search(r"^(.*?)(?: - at `\$\.?(.*)`)?$", message)
    if not match:
        return message
    text, path = match.group(1), match.group(2) or ""
    unknown = re.match(r"Object contains unknown field `(.+)`", text)
    if unknown:
        full = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        return f"{full}: unknown key (check the spelling)"
    return f"{path}: {text[0].lower()}{text[1:]}" if path else text


class AuthSecrets(msgspec.Struct, frozen=True):
    signing_keys: list[SigningKeySettings]
    secret_hash_key: str

    def __repr__(self) -> str:
        return f"AuthSecrets(kids={[k.kid for k in self.signing_keys]!r}, secrets=***)"


def auth_secrets(settings: Settings) -> AuthSecrets:
    """The signing keys and hash key: from settings, else from ``auth.secrets_file``.

    The local profile writes that file (mode 0600, fresh random keys) when neither exists; the
    server profile never invents secrets and fails naming what to set.
    """
    auth = settings.auth
    if auth.signing_keys and auth.secret_hash_key:
        return AuthSecrets(list(auth.signing_keys), auth.secret_hash_key)
    path = Path(auth.secrets_file)
    if not path.is_absolute():
        path = settings.data_dir / path
    if not path.is_file():
        if settings.profile == "server":
            raise InvalidInput(
                "auth secrets are missing: set auth.signing_keys and auth.secret_hash_key, or"
                f" provide auth.secrets_file ({path})",
                field="auth.signing_keys",
            )
        _write_secrets_file(path)
    section = _read_toml(path).get("auth", {})
    try:
        found = msgspec.convert(section, AuthSecrets)
    except msgspec.ValidationError as exc:
        raise InvalidInput(
            f"secrets file {path} is malformed: {_dotted(str(exc))}", field="auth.secrets_file"
        ) from exc
    return AuthSecrets(
        list(auth.signing_keys) or found.signing_keys,
        auth.secret_hash_key or found.secret_hash_key,
    )


def _write_secrets_file(path: Path) -> None:
    import secrets as random_secrets

    kid = "k" + random_secrets.token_hex(4)
    text = (
        "# Generated by arbx on first start. Keep private; do not commit.\n"
        "[auth]\n"
        f'secret_hash_key = "{random_secrets.token_urlsafe(48)}"\n'
        f'signing_keys = [{{ kid = "{kid}", secret = "{random_secrets.token_urlsafe(48)}" }}]\n'
    )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return  # another process wrote it first; use theirs
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
