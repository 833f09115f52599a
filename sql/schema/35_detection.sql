-- Detection results beside `flags` (issue 14). Rebuilt by each flag run.

-- What the words and the refunds say besides the flags: every phrase detection read, sorted by
-- what it says, and the refunds whose amount is explained otherwise.
-- Grain: one row per text phrase × what it says about its items (rule), or per refund
-- explained otherwise.
create table if not exists notes (
    order_id           varchar not null,  -- the order whose text (or refund) it is
    source             varchar,           -- 买家留言, 订单备注, 买家退款说明, 退款商家备注, or 退款 / 退款金额
    refund_id          varchar,
    rule               varchar not null,  -- text_words, text_makeup, text_other_order, text_gift,
                                          -- text_damage, text_checkout, text_substitution, refund_explained
    sort               varchar not null,  -- this_order, make_up, untraced, gift, damage, checkout, substitution,
                                          -- refund_explained
    kind               varchar,           -- short, wrong, empty, not_received (what the words say)
    quote              varchar,           -- the text or the refund, personal data masked
    missing_qty        bigint,            -- units the phrase gives (NULL: not said)
    related_order_ids  varchar[],         -- make_up: the earlier order(s) it was traced to
    flagged            boolean,           -- it raised or supports a flag (this order's, or the traced order's)
    as_of              timestamp,
    run_id             varchar
);

-- the review loop: how a flag was decided (NULL: by the data; else the person's decision:
-- merchant, courier, buyer, no_fault; see the decisions table and the flag's evidence)
alter table flags add column if not exists decision varchar;

-- No money from rows we do not have or cannot trust (SPEC section 8): why no money may move for
-- a flagged order yet (NULL: nothing holds it). order_not_loaded (the order's own row is not in
-- `orders`), lines_not_loaded (a short or wrong flag whose order lines are not loaded): awaiting
-- data; data_problem (a refund or a decision of the order does not add up: in review.csv until
-- a person decides). See sql/flags/flags.sql; liabilities.hold adds no_paid_time.
alter table flags add column if not exists hold varchar;

-- The evidence as facts (issue 22): one {sep, code, args} per fact, in order (sql/flags/macros.sql
-- fl_fact); `evidence` says them in English, the outputs in the reader's language (pipeline/explain.py).
alter table flags add column if not exists evidence_facts struct(sep varchar, code varchar, args map(varchar, varchar))[];
alter table liabilities add column if not exists hold varchar;
