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


-- a literal text as a regular expression (RE2 metacharacters escaped)
create or replace temp macro fl_re_escape(s) as
    regexp_replace(s, '([.^$*+?()\[\]{}|\\])', '\\\1', 'g');

-- personal data in quoted text (SPEC 6): mobile numbers masked as 136****2067, landlines keep
-- their area code and last four digits; order ids and other long digit runs are left alone
-- (a text without seven digits in a row holds neither: one scan, given back as it is)
create or replace temp macro fl_mask(t) as
    case when regexp_matches(t, '[0-9]{7}') then
    regexp_replace(
        regexp_replace(
            regexp_replace(t, '(^|[^0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})([^0-9]|$)', '\1\2****\3\4', 'g'),
            '(^|[^0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})([^0-9]|$)', '\1\2****\3\4', 'g'),
        '(^|[^0-9])(0[0-9]{2,3}-)[0-9]{3,4}([0-9]{4})([^0-9]|$)', '\1\2****\3\4', 'g')
    else t end;

-- a Chinese or Arabic numeral as a number: 2, 12, 一 … 九, 两, 十, 十五, 二十, 二十三 (else NULL)
create or replace temp macro fl_digit(c) as
    case when c = '两' then 2 else nullif(list_position(['一', '二', '三', '四', '五', '六', '七', '八', '九'], c), 0) end;

create or replace temp macro fl_number(s) as
    case
        when s is null or s = '' then null
        when regexp_full_match(s, '[0-9]{1,4}') then s::bigint
        when s = '十' then 10
        when regexp_full_match(s, '十[一二三四五六七八九]') then 10 + fl_digit(right(s, 1))
        when regexp_full_match(s, '[一二两三四五六七八九]十') then 10 * fl_digit(left(s, 1))
        when regexp_full_match(s, '[一二两三四五六七八九]十[一二三四五六七八九]') then 10 * fl_digit(left(s, 1)) + fl_digit(right(s, 1))
        when length(s) = 1 then fl_digit(s)
    end::bigint;

-- the Han-character pairs of a name (one pair per position), for matching item names to titles
create or replace temp macro fl_bigrams(s) as
    case when length(s) >= 2 then list_transform(range(1, length(s)), lambda i: substr(s, i::integer, 2))
         when length(s) = 1 then [s] else [] end;

-- a short quote of free text for evidence, personal data masked (fl_mask)
create or replace temp macro fl_quote(t) as
    list_transform([fl_mask(t)], lambda m: '"' || case when length(m) > 60 then left(m, 60) || '…' else m end || '"')[1];

-- what people wrote (memos, messages, refund descriptions), as quoted into outputs: an address
-- (a run of text with a province, a city and district, or a building / unit / room number, and
-- the name written in it) becomes 〔地址〕, a short name right before a phone number 〔姓名〕,
-- and phone numbers are masked (fl_mask)
-- (a text with none of 省, 自治区, 市, a number before 栋 ... 室, or seven digits in a row holds
-- nothing of these: one scan, given back as it is)
create or replace temp macro fl_mask_text(t) as
    case when regexp_matches(t, '省|自治区|市|[0-9](栋|幢|单元|号楼|号院|室)|[0-9]{7}') then
    fl_mask(regexp_replace(regexp_replace(t,
        '[^\s，,。；;！!？?]*(省|自治区|市[^\s，,。；;]{0,8}[区县]|[0-9]+(栋|幢|单元|号楼|号院|室))[^\s，,。；;！!？?]*',
        '〔地址〕', 'g'),
        '(^|[\s，,：:])\p{Han}{2,4}(\s*1[3-9][0-9]{9})', '\1〔姓名〕\2', 'g'))
    else t end;

-- a short quote of what people wrote, personal data masked (fl_mask_text)
create or replace temp macro fl_say(t) as
    list_transform([fl_mask_text(t)], lambda m: '"' || case when length(m) > 60 then left(m, 60) || '…' else m end || '"')[1];

-- the same with runs of three characters
create or replace temp macro fl_trigrams(s) as
    case when length(s) >= 3 then list_transform(range(1, length(s) - 1), lambda i: substr(s, i::integer, 3))
         else [] end;

-- x, at most cap; NULL stays NULL (DuckDB's least() would return cap)
create or replace temp macro fl_cap(x, cap) as case when x is null then null else least(x, cap) end;


-- Evidence as facts (issue 22): one fact is a code (its sentence is a template of the message
-- catalogue, context "evidence": pipeline/explain.py) and its arguments as text; `sep` says how
-- it joins the fact before it: none, item (the same piece of evidence), row (another piece),
-- sentence. The text is rendered in a language by fl_render with that language's templates.
create or replace temp macro fl_fact(sep, code, k, v) as
    struct_pack(sep := sep, code := code, args := map(k, v::varchar[]));

create or replace temp macro fl_fact0(sep, code) as
    struct_pack(sep := sep, code := code, args := map([]::varchar[], []::varchar[]));

-- a list of facts without the NULL ones (facts that do not apply)
create or replace temp macro fl_facts(l) as list_filter(l, lambda x: x is not null);

-- the facts with the sep of the first one replaced (a piece of evidence starts a new row)
-- (the first fact rebuilt and the rest sliced on: no lambda over every fact; NULL stays NULL;
-- facts that start with that sep already are given back as they are, not copied)
create or replace temp macro fl_lead(facts, sep) as
    case when len(facts) = 0 or facts[1].sep = sep then facts
         else [struct_pack(sep := sep, code := facts[1].code, args := facts[1].args)] || facts[2:] end;

-- the text of a list of facts: each fact's template (tpl: code -> template, pipeline/explain.py
-- `render_params`) with its {arguments} filled in, joined by the separators' templates
create or replace temp macro fl_render(facts, tpl) as
    coalesce(array_to_string(list_transform(facts, lambda f, i:
        case when i > 1 then coalesce(tpl['sep.' || f.sep], '') else '' end
        || list_reduce(map_keys(f.args), lambda acc, k: replace(acc, '{' || k || '}', coalesce(f.args[k], '')),
                       coalesce(tpl[f.code], f.code))), ''), '');
