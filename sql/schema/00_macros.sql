-- Macros that turn exported text into typed values, used by every staging model.
-- Grain: none (functions). Each macro is one level deep on purpose: a staging model cleans
-- every column once (ss_clean: ss_trim, ss_unwrap, ss_null for the values that need them) and
-- then types the cleaned text, which keeps DuckDB's planning time flat.

-- white space (also full-width, no-break and BOM) trimmed at both ends; the cheap test on the
-- first and last character keeps the (slower) trim off the values that need none. Speed notes for
-- all macros here: an IN list of 5 or more values becomes a join in DuckDB (which also keeps
-- unused columns alive), so lists are split into short ones; prefix() compares the first bytes
-- that DuckDB keeps inline in every string (no pointer followed), so it is faster than ascii()
-- or starts_with(); for the last character one regexp anchored at the end costs less than six
-- suffix() tests (each follows the pointer), and right(x, 1) walks the string; a macro applied
-- to another macro's CASE result evaluates that CASE once per mention, hence one cleaning step
-- per CTE in the staging models. (Measured on 200,000 orders x 46 columns, CPU s, one thread:
-- ascii 0.33 + six suffix 0.62 before, seven prefix 0.20 + the regexp 0.39 now.)
create or replace macro ss_trim(x) as
    case
        when prefix(x, ' ') or prefix(x, chr(9)) or prefix(x, chr(10)) or prefix(x, chr(13))
          or prefix(x, chr(160)) or prefix(x, chr(12288)) or prefix(x, chr(65279))
          or regexp_matches(x, '[ \t\n\r\x{a0}\x{3000}]$')
            then trim(x, ' ' || chr(9) || chr(10) || chr(13) || chr(12288) || chr(65279) || chr(160))
        else x
    end;

-- the Excel ="..." wrapper and a leading apostrophe removed
create or replace macro ss_unwrap(s) as
    case
        when prefix(s, '="') and suffix(s, '"') then trim(s[3:-2])
        when prefix(s, '''') then s[2:]
        else s
    end;

-- placeholders that mean "empty" (the longest, 没有申请退款, is 18 bytes)
create or replace macro ss_null(s) as
    case when strlen(s) <= 18 and (s in ('', 'null', 'NULL', '=""') or s in ('订单未关闭', '无退款申请', '没有申请退款', '-'))
         then null else s end;

-- ss_null(ss_unwrap(ss_trim(x))) in one step, which the staging models apply to every column:
-- most values need none of it, and one test tells them: a first character that none of the
-- three can touch (byte ranges compared on the bytes DuckDB keeps inline: '0'..'<', '>'..U+009F,
-- U+4E00..U+FEFE, so not white space, BOM, '=', an apostrophe, '-' or the empty string) and a
-- last one that is not white space (ss_trim's regexp). Such a value is only tested against the
-- placeholders left (null, NULL, the Chinese ones). Any other value takes the three steps; the
-- lambdas name each step's result once (a macro applied to another macro's CASE would evaluate
-- it once per mention). One pass instead of three CTEs: 0.755 -> 0.537 CPU s on 200,000 legacy
-- orders (all their columns, one thread).
create or replace macro ss_clean(x) as
    case
        when x is null then null
        when ((x >= '0' and x < '=') or (x >= '>' and x < chr(160)) or (x >= chr(19968) and x < chr(65279)))
          and not regexp_matches(x, '[ \t\n\r\x{a0}\x{3000}]$')
            then case when strlen(x) <= 18 and (x = 'null' or x = 'NULL' or x = '订单未关闭' or x = '无退款申请'
                                                  or x = '没有申请退款') then null else x end
        else list_transform(list_transform([ss_trim(x)], lambda t: ss_unwrap(t)), lambda u: ss_null(u))[1]
    end;

-- Values are read strictly (README "Loading exports"): what does not fit is rejected with its
-- line, never guessed. Each macro returns NULL for text that does not fit; the ss_bad_* macros
-- give the reject reason.

-- an id (order, sub-order, refund): digits only, kept as text. Excel's ="…" wrapper, a leading
-- apostrophe and white space at the ends are gone by now (ss_trim, ss_unwrap); white space
-- inside (`2017 9398 626`) is not squeezed out: such an id is malformed
create or replace macro ss_id(t) as t;

-- why an id cannot be used (NULL when it can); takes the output of ss_id
create or replace macro ss_id_problem(id) as
    case
        when id is null then 'missing id'
        when regexp_full_match(id, '[0-9]+') then null
        when regexp_full_match(id, '[0-9]+(\.[0-9]*)?[eE][+-]?[0-9]+')
            then 'id in scientific notation (digits lost in Excel, cannot be repaired): ' || id
        else 'malformed id (digits only): ' || id
    end;

-- money, DECIMAL(18,2): 0 to 99,999,999.99; digits with thousands separators only in groups of
-- three, at most two decimals (further zeros allowed: 12.500), no exponent, no sign; ¥ / ￥ in
-- front and 元 behind allowed. The ceiling keeps every later computation inside DECIMAL(18,2)
-- and BIGINT points (price × quantity ≤ 10^14, sums over an order's lines far below 10^16).
create or replace macro ss_money(t) as
    case
        when regexp_full_match(t, '[0-9]{1,8}(\.[0-9]{1,2})?') then t::decimal(18, 2)
        when regexp_full_match(t, '[¥￥]? ?([0-9]{1,8}|[0-9]{1,2},[0-9]{3},[0-9]{3}|[0-9]{1,3},[0-9]{3})(\.[0-9]{1,2}0*)? ?元?')
            then regexp_replace(t, '[^0-9.]', '', 'g')::decimal(18, 2)
    end;

-- why text is not an amount (for a reject reason)
create or replace macro ss_money_why(t) as
    case
        when regexp_matches(t, '^[¥￥]? ?[-−]') then 'negative'
        when regexp_matches(t, '[0-9][eE][+-]?[0-9]') then 'exponent'
        when regexp_matches(t, '\.[0-9]{2}[0-9]*[1-9][0-9]*( ?元)?$') then 'more than two decimals'
        when regexp_full_match(t, '[¥￥]? ?([0-9]+|[0-9]{1,3}(,[0-9]{3})+)(\.[0-9]+)? ?元?') then 'over 99,999,999.99'
        when regexp_full_match(t, '[¥￥]? ?[0-9,]+(\.[0-9]+)? ?元?') then 'thousands separators out of place'
        else 'not an amount'
    end;

create or replace macro ss_bad_money(text_value, typed_value, what) as
    case when text_value is not null and typed_value is null
         then 'bad amount in ' || what || ': ' || text_value || ' (' || ss_money_why(text_value) || ')' end;

-- whole numbers (quantities): "12", "1,200" or "12.0" (Excel), at most 10 digits; each column
-- then checks its own range (ss_bad_qty)
create or replace macro ss_int(t) as
    case
        when regexp_full_match(t, '[0-9]{1,10}') then t::bigint
        when regexp_full_match(t, '([0-9]{1,10}|[0-9]{1,3}(,[0-9]{3}){1,3})(\.0+)?')
            then regexp_replace(t, ',|\.0+$', '', 'g')::bigint
    end;

create or replace macro ss_bad_qty(text_value, typed_value, what, lo, hi) as
    case when text_value is not null and (typed_value is null or typed_value < lo or typed_value > hi)
         then 'bad ' || what || ': ' || text_value || ' (a whole number from ' || lo || ' to ' || hi || ')' end;

-- weights in kg: 0 to 999,999.999, at most three decimals
create or replace macro ss_weight(t) as
    case when regexp_full_match(t, '[0-9]{1,6}(\.[0-9]{1,3})?') then t::decimal(12, 3) end;

-- timestamps, China time without zone: 2017-07-08 00:42:32, 2017/5/30 23:18, Excel serials
create or replace macro ss_ts_formats() as [
    '%Y-%m-%d %H:%M:%S', '%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y-%m-%d %H:%M',
    '%Y-%m-%dT%H:%M:%S', '%Y-%m-%d %H:%M:%S.%f', '%Y-%m-%d', '%Y/%m/%d', '%Y%m%d%H%M%S'
];

create or replace macro ss_ts(t) as
    coalesce(
        try_strptime(t, ss_ts_formats()),
        case when regexp_full_match(t, '[1-9][0-9]{4}(\.[0-9]+)?')
             then timestamp '1899-12-30 00:00:00'
                  + to_microseconds(round(try_cast(t as double) * 86400000000)::bigint)
        end
    );

create or replace macro ss_bool(t) as
    case
        when lower(t) in ('true', 't', '1', 'yes') or lower(t) in ('y', '是', '需要') then true
        when lower(t) in ('false', 'f', '0', 'no') or lower(t) in ('n', '否', '不需要') then false
    end;

-- tracking numbers lose their "No:" prefix (the regexp only for the values that start with No:
-- regexp_replace copies every value it is given, 0.05 CPU s a million)
create or replace macro ss_tracking(t) as
    case when prefix(t, 'No') then nullif(regexp_replace(t, '^No[:：]\s*', ''), '') else nullif(t, '') end;

-- order status (订单状态) as a code; the raw value is kept beside it
create or replace macro ss_order_status(t) as
    case
        when t like '等待买家付款%' or t = 'WAIT_BUYER_PAY' then 'unpaid'
        when t like '买家已付款%' or t = 'WAIT_SELLER_SEND_GOODS' then 'paid'
        when t like '卖家已发货%' or t = 'WAIT_BUYER_CONFIRM_GOODS' then 'shipped'
        when t like '交易成功%' or t = 'TRADE_FINISHED' then 'completed'
        when t like '交易关闭%' or t like 'TRADE_CLOSED%' then 'closed'
    end;

-- refund status (退款状态) as a code
create or replace macro ss_refund_status(t) as
    case
        when t like '%等待卖家同意%' or t = 'WAIT_SELLER_AGREE' then 'requested'
        when t like '%等待买家退货%' or t = 'WAIT_BUYER_RETURN_GOODS' then 'awaiting_return'
        when t like '%等待卖家确认收货%' or t = 'WAIT_SELLER_CONFIRM_GOODS' then 'returned'
        when t like '卖家拒绝退款%' or t = 'SELLER_REFUSE_BUYER' then 'refused'
        when t like '退款关闭%' or t = 'CLOSED' then 'closed'
        when t like '退款成功%' or t = 'SUCCESS' then 'success'
    end;

-- The typed columns (ids, amounts, quantities, weights, dates) skip ss_clean where their text as
-- exported is in its plain form, which cleaning would leave as it is: a regexp_full_match of
-- digits (ss_*_plain), or a date try_strptime reads (ss_ts_fast: it reads nothing that cleaning
-- could change but ASCII white space at the ends, which it skips itself: the same date). Such a
-- value pays one regexp instead of ss_clean's and its type's. A staging model computes the test
-- first, then the cleaned text (ss_clean_unless: cleaned only where the test failed) and then
-- the typed value (ss_<type>_typed: a plain cast where the test passed, else the macro above);
-- each gives what ss_<type>(ss_clean(raw)) gives, and the checks read the cleaned text.
-- (1M orders, one thread: cleaning was 1.2 of 2.7 CPU s of typing.)
create or replace macro ss_money_plain(raw) as regexp_full_match(raw, '[0-9]{1,8}(\.[0-9]{1,2})?');
create or replace macro ss_int_plain(raw) as regexp_full_match(raw, '[0-9]{1,10}');
create or replace macro ss_weight_plain(raw) as regexp_full_match(raw, '[0-9]{1,6}(\.[0-9]{1,3})?');
create or replace macro ss_id_plain(raw) as regexp_full_match(raw, '[0-9]+');
create or replace macro ss_ts_fast(raw) as try_strptime(raw, ss_ts_formats());

-- the cleaned text of a value whose `plain` test passed (itself) or not (ss_clean)
create or replace macro ss_clean_unless(raw, plain) as
    case when plain then raw else ss_clean(raw) end;

-- the typed value of a cleaned text `t` whose raw text passed its plain test (`plain`) or not
create or replace macro ss_money_typed(t, plain) as
    case when plain then t::decimal(18, 2) else ss_money(t) end;
create or replace macro ss_int_typed(t, plain) as
    case when plain then t::bigint else ss_int(t) end;
create or replace macro ss_weight_typed(t, plain) as
    case when plain then t::decimal(12, 3) else ss_weight(t) end;

-- ss_id_problem of an id whose raw text passed ss_id_plain (`plain`: no problem) or not
create or replace macro ss_id_problem_raw(id, plain) as
    case when plain then null else ss_id_problem(id) end;

-- a date: the cleaned text of a date column, cleaned where ss_ts_fast did not read a date in
-- 2000..2099 (`fast`): the checks quote no other, and a date column's text is not kept
create or replace macro ss_ts_text(raw, fast) as
    case when fast >= timestamp '2000-01-01' and fast < timestamp '2100-01-01' then raw else ss_clean(raw) end;

-- the date of a date column: ss_ts_fast's, else ss_ts of the cleaned text `t`
create or replace macro ss_ts_typed(t, fast) as
    coalesce(fast, ss_ts(t));

-- "bad value" message when text is present but did not type
create or replace macro ss_bad(text_value, typed_value, what) as
    case when text_value is not null and typed_value is null then what || ': ' || text_value end;

-- a date that did not type, or lies outside 2000-01-01 .. 2099-12-31 (a year 1900 or 2200 is a
-- typing or conversion error, and Excel serials of 5 digits reach both)
create or replace macro ss_bad_ts(text_value, typed_value, what) as
    case when text_value is not null
          and (typed_value is null or typed_value < timestamp '2000-01-01' or typed_value >= timestamp '2100-01-01')
         then 'bad date in ' || what || ': ' || text_value
              || case when typed_value is not null then ' (outside 2000 to 2099)' else '' end end;

-- the least-squares slope of y over x, an aggregate (use it in a grouped select), from exact
-- sums (y to the nanogram, as DECIMAL): it does not depend on the order DuckDB's threads add
-- the rows up, as regr_slope's double sums do in their last bits (enough to flip a borderline
-- parcel). The unit weight a SKU's parcels teach: signals/parcel_light.sql, outputs/sku_weights.sql
create or replace macro ss_slope(x, y) as
    (count(*) * sum(x * y::decimal(38, 9)) - sum(x) * sum(y::decimal(38, 9)))::double
    / nullif(count(*) * sum(x * x) - sum(x) * sum(x), 0)::double;
