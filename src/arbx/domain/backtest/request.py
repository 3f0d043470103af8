"""A backtest request: everything needed to reproduce a run, validated up front."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import msgspec

from arbx.domain.backtest.arbitrage import ArbitrageConfig
from arbx.domain.backtest.arbitrage_market import RECORDED, ExecutionModel
from arbx.domain.backtest.costs import FeeSchedule, SlippageModel, fees_for, venue_rules
from arbx.domain.backtest.events import RiskRules
from arbx.domain.backtest.execution import Execution, FillMode
from arbx.domain.backtest.sizing import Sizing
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan, utc
from arbx.domain.market.timespan import parse_instant
from arbx.domain.orderbook.synthetic import SyntheticBook
from arbx.domain.strategies import StrategyType, get_strategy, parse_params
from arbx.domain.suggestions import unknown

EngineChoice = Literal["auto", "vectorized", "event"]


class ArbitrageSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Venue accounting for arbitrage strategies (see ``backtest.arbitrage``).

    ``common_currency``: the currency of every value (default: the currency the first
    series' conversion prices its quote in, else that quote). ``assume_parity``: quotes
    valued 1:1 in the common currency without a conversion series (recorded in the notes).
    ``fx_cost_bps``: cost of converting a rebalancing transfer between different quotes.
    ``volume_window``: bars of trailing volume known at a decision (volume-share slippage,
    ``risk.max_volume_share``). ``max_fill_delay_bars``: skip decisions whose fill comes
    more than that many bars late (a data gap); None: no limit. ``max_inventory``: most
    base one venue may hold after a buy; ``max_notional``: most bought notional (common
    currency) per round trip; None: no limit."""

    base_fraction: float = 0.5
    min_notional: float = 10.0
    transfer_fee_bps: float = 5.0
    transfer_delay_bars: int = 30
    rebalance_trigger: float = 0.25
    common_currency: str | None = None
    assume_parity: tuple[str, ...] = ()
    fx_cost_bps: float = 1.0
    volume_window: int = 60
    max_fill_delay_bars: int | None = None
    max_inventory: float | None = None
    max_notional: float | None = None


class BacktestRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What to run. ``series`` are "exchange:BASE/QUOTE:tf" texts: one for signal
    strategies, two or more venues for arbitrage. ``conversions`` maps a traded series to
    the series that prices its quote in the common currency (e.g. BTC/USDC on kraken ->
    "kraken:USDC/USD:1m"). ``fees`` overrides the default schedule per venue.
    ``lot_size`` (base units) and ``min_notional`` (quote units) override the venue's
    built-in order rules (``costs.DEFAULT_VENUE_RULES``) for single-market runs; None
    takes the venue's, 0 switches the rule off."""

    strategy: str
    series: list[str]
    start: datetime
    end: datetime
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    conversions: dict[str, str] = msgspec.field(default_factory=dict)
    capital: float = 10_000.0
    fees: dict[str, FeeSchedule] = msgspec.field(default_factory=dict)
    slippage: SlippageModel = SlippageModel()
    sizing: Sizing = Sizing()
    fill: FillMode = "next_open"
    engine: EngineChoice = "auto"
    lot_size: float | None = None
    risk: RiskRules = RiskRules()
    risk_free_rate: float = 0.0
    arbitrage: ArbitrageSettings = ArbitrageSettings()
    min_notional: float | None = None
    # how orders fill: "bars" (bar prices and the slippage model), "synthetic_book" (books
    # built from bars with the ``book`` spread/depth model; the result is flagged
    # synthetic), "recorded_book" or "recorded_quotes" (the stored streams of every traded
    # series); ``latency_ms``: an order meets the book that much after its fill instant
    execution: ExecutionModel = "bars"
    book: SyntheticBook = SyntheticBook()
    latency_ms: int = 0


def decode_request(raw: Mapping[str, Any] | bytes) -> BacktestRequest:
    """Decode JSON bytes or a dict into a request; schema errors become ``InvalidInput``.

    ``start``/``end`` accept ISO-8601 (a date alone too) or epoch milliseconds, as UTC.
    """
    try:
        data = msgspec.json.decode(raw) if isinstance(raw, bytes | bytearray) else dict(raw)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"backtest request is not valid JSON: {exc}", field="request") from None
    if not isinstance(data, dict):
        raise InvalidInput("a backtest request is a JSON object", field="request")
    for name in ("start", "end"):
        value = data.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            data[name] = parse_instant(str(value), field=name)
        elif isinstance(value, datetime):
            data[name] = utc(value)
    try:
        return msgspec.convert(data, BacktestRequest, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        field = text.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in text else "request"
        raise InvalidInput(f"invalid backtest request: {text}", field=field) from None


class ValidRequest(msgspec.Struct, frozen=True):
    """A request after validation: parsed keys, span, typed params and engine settings."""

    request: BacktestRequest
    strategy: StrategyType
    params: Any
    keys: list[SeriesKey]
    conversions: dict[SeriesKey, SeriesKey]
    span: TimeSpan
    engine: Literal["vectorized", "event", "arbitrage"]

    def execution(self) -> Execution:
        """Single-market settings: the request's, else the venue's fees and order rules."""
        return self.execution_for(self.keys[0])

    @property
    def several_series(self) -> bool:
        """An event strategy over several series (``backtest.multi_events``)."""
        return self.engine == "event" and len(self.keys) > 1

    def execution_for(self, key: SeriesKey) -> Execution:
        """The settings one traded series fills with: the request's, else its venue's fees
        and order rules."""
        r = self.request
        rules = venue_rules(key.exchange.id)
        return Execution(
            capital=r.capital,
            fees=fees_for(key.exchange.id, r.fees),
            slippage=r.slippage,
            sizing=r.sizing,
            fill=r.fill,
            lot_size=rules.lot_size(key.symbol.base) if r.lot_size is None else r.lot_size,
            risk_free_rate=r.risk_free_rate,
            min_notional=rules.min_notional if r.min_notional is None else r.min_notional,
        )

    def arbitrage_config(self) -> ArbitrageConfig:
        return _arbitrage_config(self.request)

    @property
    def latency_ms(self) -> int:
        """The effective latency of a book execution (``latency_ms``, else the older
        ``book.latency_ms``)."""
        return self.request.latency_ms or self.request.book.latency_ms

    @property
    def recorded(self) -> bool:
        """True when the run fills on recorded quotes or books (the caller loads them)."""
        return self.request.execution in RECORDED

    def common_currency(self) -> str:
        """The currency every value of an arbitrage run is in."""
        return _common_currency(self.keys, self.conversions, self.request.arbitrage)

    def all_keys(self) -> list[SeriesKey]:
        """Every series the run reads: traded series, then conversion series."""
        extra = [k for k in self.conversions.values() if k not in self.keys]
        return [*self.keys, *dict.fromkeys(extra)]


def validate_request(request: BacktestRequest) -> ValidRequest:
    """Check everything that can be checked without data; raise ``InvalidInput``."""
    strategy = get_strategy(request.strategy)
    params = parse_params(strategy, request.params)
    _check_execution(request)
    if not (math.isfinite(request.capital) and request.capital > 0):
        raise InvalidInput(
            f"capital must be a positive amount, got {request.capital!r}", field="capital"
        )
    start, end = utc(request.start), utc(request.end)
    span = TimeSpan(start, end) if start < end else None
    if span is None:
        raise InvalidInput(
            f"start {start.isoformat()} must be before end {end.isoformat()}",
            field="start",
        )
    if not request.series:
        raise InvalidInput("give at least one series, e.g. binance:BTC/USDC:1m", field="series")
    keys = [SeriesKey.parse(text) for text in request.series]
    if len(set(keys)) != len(keys):
        raise InvalidInput("a series is listed twice", field="series")
    if not (strategy.min_series <= len(keys) <= strategy.max_series):
        raise InvalidInput(
            f"strategy {strategy.name} takes {strategy.min_series}"
            + (f"..{strategy.max_series}" if strategy.max_series != strategy.min_series else "")
            + f" series, got {len(keys)}",
            field="series",
        )
    if len({k.timeframe for k in keys}) != 1:
        raise InvalidInput("all series must share one timeframe", field="series")
    venues = {k.exchange.id for k in keys}
    for venue in request.fees:
        if venue not in venues:
            raise InvalidInput(
                f"fees: {unknown('venue', venue, venues)} (fees are per venue the run trades)",
                field=f"fees.{venue}",
            )
    conversions: dict[SeriesKey, SeriesKey] = {}
    for traded, conv in request.conversions.items():
        tk, ck = SeriesKey.parse(traded), SeriesKey.parse(conv)
        if tk not in keys:
            raise InvalidInput(
                f"conversion given for {traded}, which is not a traded series", field="conversions"
            )
        if ck.symbol.base != tk.symbol.quote:
            raise InvalidInput(
                f"conversion {conv} must price {tk.symbol.quote} (its base) in the common currency",
                field="conversions",
            )
        conversions[tk] = ck
    if strategy.kind == "arbitrage":
        engine: Literal["vectorized", "event", "arbitrage"] = "arbitrage"
        bases = {k.symbol.base for k in keys}
        if len(bases) != 1:
            raise InvalidInput("arbitrage venues must trade the same base asset", field="series")
        _refuse_unhonoured(request)
        _check_currencies(keys, conversions, request.arbitrage)
        _arbitrage_config(request)  # validates the settings
    elif strategy.kind == "event":
        if request.engine == "vectorized":
            raise InvalidInput(
                f"{strategy.name} is an event strategy; it runs on the event engine"
                " (engine=event or auto)",
                field="engine",
            )
        engine = "event"
        if len(keys) > 1 or strategy.max_series > 1:  # the several-series engine
            _check_several_series(keys, request)
    elif request.execution != "bars":
        if request.engine == "vectorized":
            raise InvalidInput(
                f"execution {request.execution!r} walks order books order by order on the"
                " event engine; use engine=event (or auto)",
                field="engine",
            )
        engine = "event"
    elif request.engine == "vectorized" and (request.risk.active or strategy.target is None):
        raise InvalidInput(
            "the vectorized engine has no stops, limits or kill switch; use engine=event (or auto)",
            field="engine",
        )
    elif request.engine == "vectorized" or (request.engine == "auto" and not request.risk.active):
        engine = "vectorized"
    else:
        engine = "event"
    valid = ValidRequest(request, strategy, params, keys, conversions, span, engine)
    if engine != "arbitrage":
        _refuse_unused_single_market(request)
        for key in keys:
            valid.execution_for(key)  # validates lot_size, min_notional, risk_free_rate
        if request.execution != "bars" and valid.latency_ms >= keys[0].timeframe.ms:
            raise InvalidInput(
                f"latency_ms {valid.latency_ms} must be shorter than a bar"
                f" ({keys[0].timeframe}): a single-market fill stays in the bar after the"
                " decision",
                field="latency_ms",
            )
    return valid


def _check_several_series(keys: list[SeriesKey], request: BacktestRequest) -> None:
    """An event strategy over several series keeps one cash balance: every series is
    quoted in one currency; one ``lot_size`` (base units) fits only series of one base."""
    quotes = sorted({str(k.symbol.quote) for k in keys})
    if len(quotes) > 1:
        raise InvalidInput(
            "an event strategy over several series keeps one cash balance, so every series"
            f" must be quoted in one currency; got {', '.join(quotes)}",
            field="series",
        )
    bases = {str(k.symbol.base) for k in keys}
    if request.lot_size is not None and len(bases) > 1:
        raise InvalidInput(
            "lot_size is in base units and these series trade different bases"
            f" ({', '.join(sorted(bases))}); leave it out to use each venue's lot size",
            field="lot_size",
        )
    if request.execution != "bars":
        raise InvalidInput(
            "an event strategy over several series fills on bars; book executions"
            " (synthetic_book, recorded_book, recorded_quotes) walk one series' book",
            field="execution",
        )


def _check_execution(r: BacktestRequest) -> None:
    """The execution fields that can be checked without the data or the engine."""
    if not (0 <= r.latency_ms <= 86_400_000):
        raise InvalidInput(
            f"latency_ms must be between 0 and 86400000 (a day), got {r.latency_ms}",
            field="latency_ms",
        )
    if r.execution == "bars" and r.latency_ms:
        raise InvalidInput(
            "latency_ms applies to book executions (synthetic_book, recorded_book,"
            " recorded_quotes); bar fills happen at the bar price",
            field="latency_ms",
        )
    if r.latency_ms and r.book.latency_ms and r.latency_ms != r.book.latency_ms:
        raise InvalidInput(
            f"latency_ms {r.latency_ms} and book.latency_ms {r.book.latency_ms} disagree; give one",
            field="latency_ms",
        )
    if r.execution != "bars" and r.fill == "close" and (r.latency_ms or r.book.latency_ms):
        raise InvalidInput(
            "latency_ms needs fill 'next_open' (a fill at the deciding bar's close has no"
            " later instant to delay to)",
            field="latency_ms",
        )
    if r.execution in RECORDED:
        model = msgspec.structs.replace(r.book, latency_ms=0)
        if model != SyntheticBook():
            raise InvalidInput(
                f"book settings describe the synthetic book; execution {r.execution!r}"
                " fills on the recorded one: drop book (latency: latency_ms)",
                field="book",
            )
    if r.execution != "bars" and r.slippage.kind != "none":
        raise InvalidInput(
            f"with execution {r.execution!r} a fill's slippage is the walk of the book (its"
            " spread and depth); set slippage kind 'none'",
            field="slippage",
        )


def _arbitrage_config(r: BacktestRequest) -> ArbitrageConfig:
    a = r.arbitrage
    book = r.book
    if r.latency_ms:
        book = msgspec.structs.replace(book, latency_ms=r.latency_ms)
    return ArbitrageConfig(
        capital=r.capital,
        base_fraction=a.base_fraction,
        slippage=r.slippage,
        fill=r.fill,
        lot_size=r.lot_size or 0.0,
        min_notional=a.min_notional,
        transfer_fee_bps=a.transfer_fee_bps,
        transfer_delay_bars=a.transfer_delay_bars,
        rebalance_trigger=a.rebalance_trigger,
        risk_free_rate=r.risk_free_rate,
        fx_cost_bps=a.fx_cost_bps,
        volume_window=a.volume_window,
        max_fill_delay_bars=a.max_fill_delay_bars,
        max_drawdown=r.risk.max_drawdown,
        max_inventory=a.max_inventory,
        max_notional=a.max_notional,
        max_volume_share=r.risk.max_volume_share,
        execution=r.execution,
        book=book,
    )


def _common_currency(
    keys: list[SeriesKey], conversions: Mapping[SeriesKey, SeriesKey], a: ArbitrageSettings
) -> str:
    if a.common_currency:
        return a.common_currency
    first = keys[0]
    return str(conversions[first].symbol.quote if first in conversions else first.symbol.quote)


def _check_currencies(
    keys: list[SeriesKey], conversions: Mapping[SeriesKey, SeriesKey], a: ArbitrageSettings
) -> None:
    """Every quote other than the common currency is converted, or assumed at parity."""
    common = _common_currency(keys, conversions, a)
    for traded, conv in conversions.items():
        if conv.symbol.quote != common:
            raise InvalidInput(
                f"conversion {conv} prices {conv.symbol.base} in {conv.symbol.quote}, not in"
                f" the run's common currency {common} (arbitrage.common_currency)",
                field="conversions",
            )
        if traded.symbol.quote == common:
            raise InvalidInput(
                f"{traded} is quoted in the common currency {common} and needs no conversion",
                field="conversions",
            )
    for key in keys:
        quote = key.symbol.quote
        if quote == common or key in conversions:
            continue
        if quote not in a.assume_parity:
            raise InvalidInput(
                f"series {key} is quoted in {quote}, not in the common currency {common}:"
                f" give a conversion series ({quote}/{common}) in conversions, or list"
                f' "{quote}" in arbitrage.assume_parity to value it 1:1',
                field="conversions",
            )


# Request fields the arbitrage engine reads; any other field set to a non-default value is
# refused (a new request field is refused until the arbitrage engine honours it).
_ARBITRAGE_FIELDS = frozenset(
    {
        "strategy",
        "series",
        "start",
        "end",
        "params",
        "conversions",
        "capital",
        "fees",
        "slippage",
        "fill",
        "lot_size",
        "risk",
        "risk_free_rate",
        "arbitrage",
        "execution",
        "book",
        "latency_ms",
    }
)
_ARBITRAGE_RISK = frozenset({"max_drawdown", "max_volume_share"})
_INSTEAD = {
    "sizing": "round trips are sized by the strategy's max_qty/qty within each venue's balances",
    "engine": "arbitrage strategies always run on the arbitrage engine; leave engine at auto",
    "risk.max_position": "use arbitrage.max_inventory (base per venue)",
}


def _field_default(info: Any) -> Any:
    if info.default is not msgspec.NODEFAULT:
        return info.default
    if info.default_factory is not msgspec.NODEFAULT:
        return info.default_factory()
    return msgspec.NODEFAULT


def _refuse_unhonoured(request: BacktestRequest) -> None:
    """An arbitrage request may not set a field the arbitrage engine does not honour."""
    checks: list[tuple[str, Any, Any]] = [
        (f.name, request, f)
        for f in msgspec.structs.fields(request)
        if f.name not in _ARBITRAGE_FIELDS
    ]
    checks += [
        (f"risk.{f.name}", request.risk, f)
        for f in msgspec.structs.fields(request.risk)
        if f.name not in _ARBITRAGE_RISK
    ]
    for name, owner, info in checks:
        value = getattr(owner, info.name)
        if value != _field_default(info):
            why = _INSTEAD.get(name, "the arbitrage engine does not support it")
            raise InvalidInput(
                f"{name} is not honoured by arbitrage strategies ({why}); remove it",
                field=name,
            )


# parameters that only some kinds read: (group, field) -> the kinds that read it
_KIND_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sizing", "fraction"): ("fixed_fraction",),
    ("sizing", "notional"): ("fixed_notional",),
    ("sizing", "target_vol"): ("vol_target",),
    ("sizing", "lookback"): ("vol_target",),
    ("sizing", "max_fraction"): ("vol_target",),
    ("slippage", "bps"): ("fixed",),
    ("slippage", "k_bps"): ("volume_share",),
}


def _refuse_unused_single_market(request: BacktestRequest) -> None:
    """A single-market engine honours every field of the request but these; each one
    given is a 422 naming it, never silently ignored: ``conversions`` and ``arbitrage``
    (arbitrage runs only), and the parameters of a sizing or slippage kind other than the
    one chosen (``sizing.notional`` with ``fixed_fraction``, ``slippage.bps`` with
    ``volume_share``...). ``risk`` on the vectorized engine is refused with the engine."""
    if request.conversions:
        raise InvalidInput(
            "conversions apply to arbitrage runs only; a single-market run trades in its"
            " series' quote currency",
            field="conversions",
        )
    if request.execution == "bars" and request.book != SyntheticBook():
        raise InvalidInput(
            "book settings apply to execution 'synthetic_book' only; set execution or drop book",
            field="book",
        )
    if request.execution != "bars":
        for name in ("stop_loss", "take_profit", "trailing_stop"):
            if getattr(request.risk, name) is not None:
                raise InvalidInput(
                    f"risk.{name} triggers on bar highs and lows and cannot fill on order"
                    f" books yet (execution {request.execution!r}); use execution 'bars'",
                    field=f"risk.{name}",
                )
    if request.arbitrage != ArbitrageSettings():
        raise InvalidInput(
            f"arbitrage settings apply to arbitrage strategies only, not {request.strategy}",
            field="arbitrage",
        )
    groups: dict[str, Sizing | SlippageModel] = {
        "sizing": request.sizing,
        "slippage": request.slippage,
    }
    for (group, name), kinds in _KIND_FIELDS.items():
        given = groups[group]
        if given.kind in kinds:
            continue
        if getattr(given, name) != getattr(type(given)(), name):
            raise InvalidInput(
                f"{group}.{name} does nothing with {group} kind {given.kind!r};"
                f" drop it or use the kind that reads it ({', '.join(kinds)})",
                field=f"{group}.{name}",
            )
