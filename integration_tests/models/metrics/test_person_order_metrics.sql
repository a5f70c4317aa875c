{#- person_order_metrics on order lines in three modes, unpivoted to one row per (variant, person, metric)
    and fully joined with the expected values: a missing or extra person or metric fails too.
    exclude_rates: refunds left out, GBP and USD converted to EUR, CHF (no rate) left out;
    net_eur: refunds subtracted, only EUR rows; include_rates: refunds counted as orders;
    on till refunds naming their sale: exclude_linked (refunded_order_id given: the named sales are left out),
    exclude_unlinked (the same rows without it, as before), net_linked (net ignores the link). -#}
{%- set as_of = "cast('2026-01-31 00:00:00' as timestamp)" -%}
{%- set common = {'amount': 'line_amount', 'is_refund': 'is_refund', 'currency': 'currency', 'target_currency': 'EUR', 'channel': 'channel', 'store': 'store_id', 'category': 'category', 'product': 'product_id', 'as_of': as_of} -%}
{%- set variants = {
    'exclude_rates': {'refunds': 'exclude', 'rates': ref('data_currency_rates')},
    'net_eur': {'refunds': 'net', 'rates': none},
    'include_rates': {'refunds': 'include', 'rates': ref('data_currency_rates')},
    'exclude_linked': {'refunds': 'exclude', 'rates': ref('data_currency_rates'), 'relation': 'refund_lines', 'refunded_order_id': 'refunded_order_id'},
    'exclude_unlinked': {'refunds': 'exclude', 'rates': ref('data_currency_rates'), 'relation': 'refund_lines'},
    'net_linked': {'refunds': 'net', 'rates': ref('data_currency_rates'), 'relation': 'refund_lines', 'refunded_order_id': 'refunded_order_id'},
} -%}
{%- set metrics = {
    'order_count': 'cast(order_count as varchar)',
    'refund_count': 'cast(refund_count as varchar)',
    'revenue': 'cast(cast(revenue as numeric(18, 2)) as varchar)',
    'average_basket': 'cast(cast(average_basket as numeric(18, 2)) as varchar)',
    'first_order_at': 'cast(cast(first_order_at as date) as varchar)',
    'last_order_at': 'cast(cast(last_order_at as date) as varchar)',
    'days_since_last_order': 'cast(days_since_last_order as varchar)',
    'distinct_product_count': 'cast(distinct_product_count as varchar)',
    'preferred_channel': 'preferred_channel',
    'favourite_store': 'favourite_store',
    'favourite_category': 'favourite_category',
} -%}

with

order_lines as (

    select * from {{ ref('data_person_order_metrics') }}

),

{#- Till refunds that name the sale they refund (refunded_order_id). #}
refund_lines as (

    select * from {{ ref('data_person_order_metrics_refunds') }}

),

{% for variant, options in variants.items() %}
{{ variant }} as (

    {{ rsync_braze.person_order_metrics(options.get('relation', 'order_lines'), refunds=options.refunds, rates=options.rates,
        refunded_order_id=options.get('refunded_order_id'), **common) }}

),
{% endfor %}

actual as (

    {%- for variant in variants %}
    {%- set outer_loop = loop %}
    {%- for metric, expression in metrics.items() %}
    select '{{ variant }}' as variant, person_id, '{{ metric }}' as metric, {{ expression }} as actual from {{ variant }}
    {{ 'union all' if not (outer_loop.last and loop.last) }}
    {%- endfor %}
    {%- endfor %}

),

expected as (

    select * from {{ ref('data_person_order_metrics_expected') }}

),

checked_metrics as (

    select distinct variant, metric from expected

),

final as (

    select
        coalesce(expected.variant, checked.variant) as variant,
        coalesce(expected.person_id, checked.person_id) as person_id,
        coalesce(expected.metric, checked.metric) as metric,
        expected.expected,
        checked.actual,
        expected.note
    from expected
    full outer join (
        select actual.*
        from actual
        inner join checked_metrics
            on checked_metrics.variant = actual.variant
            and checked_metrics.metric = actual.metric
    ) as checked
        on checked.variant = expected.variant
        and checked.person_id = expected.person_id
        and checked.metric = expected.metric

)

select * from final
