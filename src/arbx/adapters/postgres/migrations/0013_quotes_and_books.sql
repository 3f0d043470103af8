-- Recorded quotes and L2 book updates from the live streams (issue 17), per (venue, symbol);
-- the frames are arbx.domain.market.books (QUOTE_SCHEMA, BOOK_SCHEMA).
-- quotes: a quote's key is its whole row, so replays do not duplicate.
-- book_updates: one row per level of a snapshot or diff; a row's key is (venue, symbol, kind,
-- sequence, side, price), held by the unique index book_updates_key. The primary keys include
-- ts because a TimescaleDB hypertable's unique indexes must; on that path (stream_layout.py,
-- applied after the migrations only when the extension exists) book_updates_key is dropped and
-- the store keeps the key itself, under a per-pair advisory lock.
CREATE TABLE quotes (
    venue   text COLLATE "C" NOT NULL,
    symbol  text COLLATE "C" NOT NULL,
    ts      timestamptz      NOT NULL,
    bid     double precision NOT NULL CHECK (bid > 0),
    bid_qty double precision NOT NULL CHECK (bid_qty >= 0),
    ask     double precision NOT NULL CHECK (ask > bid),
    ask_qty double precision NOT NULL CHECK (ask_qty >= 0),
    CONSTRAINT quotes_pkey PRIMARY KEY (venue, symbol, ts, bid, bid_qty, ask, ask_qty)
);

CREATE TABLE book_updates (
    venue          text COLLATE "C" NOT NULL,
    symbol         text COLLATE "C" NOT NULL,
    ts             timestamptz      NOT NULL,
    sequence       bigint           NOT NULL,
    first_sequence bigint           NULL,
    kind           text COLLATE "C" NOT NULL CHECK (kind IN ('snapshot', 'diff')),
    side           text COLLATE "C" NOT NULL CHECK (side IN ('bid', 'ask')),
    price          double precision NOT NULL CHECK (price > 0),
    qty            double precision NOT NULL CHECK (qty >= 0),
    CONSTRAINT book_updates_pkey PRIMARY KEY (venue, symbol, ts, kind, sequence, side, price)
);

CREATE UNIQUE INDEX book_updates_key ON book_updates (venue, symbol, kind, sequence, side, price);
