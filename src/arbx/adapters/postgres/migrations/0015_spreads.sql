-- Closed opportunities of the live spread monitor (arbx.ports.spread_store).
-- `body` holds the whole SpreadOpportunity as JSONB, read whole; the columns beside it repeat
-- what the store filters and sorts on (`start_us`: epoch microseconds, as the monitor counts).

CREATE TABLE spread_opportunities (
    id        text COLLATE "C" PRIMARY KEY,
    pair      text COLLATE "C" NOT NULL,
    start_us  bigint           NOT NULL,
    body      jsonb            NOT NULL
);

CREATE INDEX spread_opportunities_by_time ON spread_opportunities (start_us DESC, id DESC);
CREATE INDEX spread_opportunities_by_pair ON spread_opportunities (pair, start_us DESC, id DESC);
