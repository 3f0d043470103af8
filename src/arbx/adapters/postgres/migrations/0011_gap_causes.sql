-- Two more gap causes from the collectors (issue 21): 'pending' (at the live edge: the venue
-- may still publish these bars; asked again on the next run) and 'not_served' (the venue
-- answered without them because they lie outside what it serves, e.g. Kraken's last 720
-- intervals).

ALTER TABLE data_gaps DROP CONSTRAINT data_gaps_cause_check;

ALTER TABLE data_gaps ADD CONSTRAINT data_gaps_cause_check
    CHECK (cause IN ('no_trades', 'outage', 'unknown', 'pending', 'not_served'));
