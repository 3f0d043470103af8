-- Trades: one row per trade a venue printed (issue 17), keyed by the venue's own trade id.
-- A trade is written once: writes insert the ids a pair does not hold yet and never replace
-- a stored row. ts is the venue's trade time (UTC, microseconds). On the TimescaleDB path
-- timescale.py makes the table a hypertable on ts (whose unique keys must include ts, so
-- the key becomes (venue, symbol, trade_id, ts) there; writes check ids either way).
CREATE TABLE trades (
    venue     text COLLATE "C" NOT NULL,
    symbol    text COLLATE "C" NOT NULL,
    trade_id  text COLLATE "C" NOT NULL,
    ts        timestamptz      NOT NULL,
    price     double precision NOT NULL CHECK (price > 0 AND price < 'Infinity'),
    qty       double precision NOT NULL CHECK (qty > 0 AND qty < 'Infinity'),
    side      text COLLATE "C" NOT NULL CHECK (side IN ('buy', 'sell')),
    CONSTRAINT trades_pkey PRIMARY KEY (venue, symbol, trade_id)
);
CREATE INDEX trades_pair_ts ON trades (venue, symbol, ts);
