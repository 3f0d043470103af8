-- Scheduled retention (issue 20): jobs of kind 'retain' apply the [[retention]] rules to their
-- series. The kind's CHECK constraint is replaced by one that allows it.

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;

ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('collect', 'validate', 'repair', 'evaluate', 'retain'));
