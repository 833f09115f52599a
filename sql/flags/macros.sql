-- Macros the signal and flag models share; created as TEMP macros by pipeline/flag.py for the
-- run's connection (nothing is stored in the database file). Grain: none (functions).

-- a refund reason compared the way pipeline.policy.normalize_reason compares it: no white
-- space (Python's str.split() set, also full-width), '.', '．' and '／' read as '/'
create or replace temp macro fl_norm(x) as
    replace(replace(replace(
        regexp_replace(x, '[\t\n\x{0b}\f\r\x{1c}-\x{1f}\x{85}\p{Z}]', '', 'g'),
        '．', '/'), '.', '/'), '／', '/');

-- k of n units of an amount, rounded half up to the cent (SPEC 2 "Money"): integer cents, no
-- floating point. amount DECIMAL(18,2) >= 0, k >= 0, n > 0.
create or replace temp macro fl_share(amount, k, n) as
    ((((amount * 100)::bigint * k * 2 + n) // (2 * n))::decimal(18, 0) * 0.01)::decimal(18, 2);

-- how many times a term occurs in a text
create or replace temp macro fl_count(text, term) as
    (length(text) - length(replace(text, term, ''))) // greatest(length(term), 1);

-- timestamps in evidence texts
create or replace temp macro fl_ts(t) as strftime(t, '%Y-%m-%d %H:%M');

-- a short quote of free text for evidence
create or replace temp macro fl_quote(t) as
    '"' || case when length(t) > 60 then left(t, 60) || '…' else t end || '"';

-- a literal text as a regular expression (RE2 metacharacters escaped)
create or replace temp macro fl_re_escape(s) as
    regexp_replace(s, '([.^$*+?()\[\]{}|\\])', '\\\1', 'g');
