-- Closed opportunities of the live spread monitor (arbx.ports.spread_store).
-- Times are INTEGER microseconds since the Unix epoch, UTC; `body` holds the whole
-- SpreadOpportunity as JSON, the columns beside it what the store filters and sorts on.

CREATE TABLE spread_opportunities (
    id        TEXT PRIMARY KEY,
    pair      TEXT NOT NULL,
    start_us  INTEGER NOT NULL,
    body      TEXT NOT NULL
);

CREATE INDEX spread_opportunities_by_time ON spread_opportunities (start_us DESC, id DESC);
CREATE INDEX spread_opportunities_by_pair ON spread_opportunities (pair, start_us DESC, id DESC);
