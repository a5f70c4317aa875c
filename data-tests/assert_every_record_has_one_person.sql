-- Unification must not lose or duplicate records: every person-describing record maps to exactly one person.
with unioned as (
    select count(*) as n from {{ ref('int_customer_records_unioned') }}
),
matched as (
    select count(*) as n, count(distinct record_key) as distinct_n from {{ ref('int_customer_records_matched') }}
)
select unioned.n as unioned_records, matched.n as matched_records
from unioned cross join matched
where unioned.n <> matched.n or matched.n <> matched.distinct_n
