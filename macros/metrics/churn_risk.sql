{% macro churn_risk(relation, person_column='person_id', ordered_at='ordered_at', as_of=none, min_orders=3) %}
    {{ return(adapter.dispatch('churn_risk', 'rsync_braze')(relation, person_column, ordered_at, as_of, min_orders)) }}
{% endmacro %}

{#- A select statement: one row per person of `relation` (one row per order) with order_count,
    days_since_last_order, own_interval_days (mean days between the person's orders, when they have at least
    `min_orders` orders), population_interval_days (median of everyone's own interval), expected_interval_days
    (own, else population, at least 1) and churn_risk = 1 - exp(-days_since_last_order / expected_interval_days),
    rounded to 2 decimals: 0 on the day of an order, 0.63 after one usual interval, 0.86 after two, 0.95 after
    three. NULL when no interval is known. See docs/scores.md. -#}
{% macro default__churn_risk(relation, person_column, ordered_at, as_of, min_orders) %}
    {%- set name = 'churn_risk' -%}
    {{- rsync_braze._check_relation(name, relation) -}}
    {{- rsync_braze._check_metric_args(name, {'person_column': person_column, 'ordered_at': ordered_at}) -}}
    {{- rsync_braze._check_int_arg(name, 'min_orders', min_orders, 2, 1000) -}}

with

_churn_people as (

    select
        {{ person_column }} as _person,
        count(*) as order_count,
        min({{ ordered_at }}) as _first_order_at,
        max({{ ordered_at }}) as _last_order_at
    from {{ relation }}
    where {{ person_column }} is not null
        and {{ ordered_at }} is not null
    group by {{ person_column }}

),

_churn_intervals as (

    select
        _person,
        order_count,
        greatest({{ dbt.datediff('_last_order_at', rsync_braze._metrics_as_of(as_of), 'day') }}, 0) as days_since_last_order,
        case
            when order_count >= {{ min_orders }}
                then {{ dbt.datediff('_first_order_at', '_last_order_at', 'day') }} * 1.0 / (order_count - 1)
        end as own_interval_days
    from _churn_people

),

_churn_population as (

    select {{ rsync_braze._median('own_interval_days') }} as population_interval_days
    from _churn_intervals

),

_churn_expected as (

    select
        _churn_intervals.*,
        _churn_population.population_interval_days,
        {#- At least one day: orders on the same day would otherwise make any absence infinitely alarming. #}
        {#- PostgreSQL's greatest ignores NULLs: check first. #}
        case
            when coalesce(_churn_intervals.own_interval_days, _churn_population.population_interval_days) is not null
                then greatest(coalesce(_churn_intervals.own_interval_days, _churn_population.population_interval_days), 1)
        end as expected_interval_days
    from _churn_intervals
    cross join _churn_population

)

select
    _person as {{ person_column }},
    order_count,
    days_since_last_order,
    {{ rsync_braze._round_decimal('own_interval_days', 2) }} as own_interval_days,
    {{ rsync_braze._round_decimal('population_interval_days', 2) }} as population_interval_days,
    {{ rsync_braze._round_decimal('expected_interval_days', 2) }} as expected_interval_days,
    {{ rsync_braze._round_decimal('1 - exp(-1.0 * days_since_last_order / expected_interval_days)', 2) }} as churn_risk
from _churn_expected

{%- endmacro %}

{% macro _median(expression) %}
    {{ return(adapter.dispatch('_median', 'rsync_braze')(expression)) }}
{% endmacro %}

{#- The median of a column (NULLs ignored), interpolated between the two middle values. -#}
{% macro default___median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}
