{% macro person_order_metrics(relation, person_column='person_id', order_id='order_id', amount='amount', ordered_at='ordered_at', is_refund=none, refunds='exclude', currency=none, target_currency=none, rates=none, rate_currency='currency', rate_column='rate', channel=none, store=none, category=none, product=none, as_of=none, refunded_order_id=none) %}
    {{ return(adapter.dispatch('person_order_metrics', 'rsync_braze')(relation, person_column, order_id, amount, ordered_at, is_refund, refunds, currency, target_currency, rates, rate_currency, rate_column, channel, store, category, product, as_of, refunded_order_id)) }}
{% endmacro %}

{#- A select statement: one row per person of `relation` (orders, or order lines: counts are of distinct
    order ids) with order_count, refund_count, revenue, average_basket, first_order_at, last_order_at,
    days_since_last_order, distinct_product_count, preferred_channel, favourite_store, favourite_category.
    With refunds='exclude' and refunded_order_id, an order named by a refund row is left out like the refund.
    Formulas and tie rules: docs/scores.md. -#}
{% macro default__person_order_metrics(relation, person_column, order_id, amount, ordered_at, is_refund, refunds, currency, target_currency, rates, rate_currency, rate_column, channel, store, category, product, as_of, refunded_order_id=none) %}
    {%- set name = 'person_order_metrics' -%}
    {{- rsync_braze._check_relation(name, relation) -}}
    {{- rsync_braze._check_metric_args(name, {'person_column': person_column, 'order_id': order_id, 'amount': amount, 'ordered_at': ordered_at}) -}}
    {%- if refunds not in ['exclude', 'net', 'include'] -%}
        {{ exceptions.raise_compiler_error(name ~ "(refunds): must be 'exclude' (refunds left out), 'net' (refund amounts subtracted from revenue) or 'include' (refunds counted as orders); got " ~ (refunds | string)) }}
    {%- endif -%}
    {%- if refunds != 'exclude' and is_refund is none -%}
        {{ exceptions.raise_compiler_error(name ~ "(is_refund): refunds='" ~ refunds ~ "' needs is_refund, the boolean column marking refund rows") }}
    {%- endif -%}
    {%- if currency is not none and target_currency is none and rates is none -%}
        {{ exceptions.raise_compiler_error(name ~ "(currency): say how to handle currencies: target_currency='EUR' keeps only that currency; add rates=ref('currency_rates') to convert the others") }}
    {%- endif -%}
    {%- if (target_currency is not none or rates is not none) and currency is none -%}
        {{ exceptions.raise_compiler_error(name ~ "(currency): target_currency and rates need currency, the column holding each row's currency code") }}
    {%- endif -%}
    {%- if rates is not none and target_currency is none -%}
        {{ exceptions.raise_compiler_error(name ~ "(target_currency): rates convert into one currency: name it, e.g. target_currency='EUR'") }}
    {%- endif -%}
    {%- if refunded_order_id is not none -%}
        {{- rsync_braze._check_metric_args(name, {'refunded_order_id': refunded_order_id}) -}}
        {%- if is_refund is none -%}
            {{ exceptions.raise_compiler_error(name ~ "(is_refund): refunded_order_id needs is_refund, the boolean column marking the refund rows that name an order") }}
        {%- endif -%}
    {%- endif -%}
    {%- set refund_expr = 'coalesce(' ~ is_refund ~ ', false)' if is_refund is not none else 'false' -%}
    {#- Only 'exclude' leaves refunded orders out: 'net' already subtracts the refund, 'include' counts it. #}
    {%- set leave_out_refunded = refunds == 'exclude' and refunded_order_id is not none -%}
    {%- set counted = 'true' if refunds == 'include' else 'not _is_refund' -%}
    {%- if leave_out_refunded -%}
        {%- set counted = counted ~ ' and _pom_refunded._order_id is null' -%}
    {%- endif -%}
    {%- set favourites = {'preferred_channel': channel, 'favourite_store': store, 'favourite_category': category} -%}

with

_pom_source as (

    select
        {{ person_column }} as _person,
        {{ order_id }} as _order_id,
        {{ amount }} as _amount,
        {{ ordered_at }} as _ordered_at,
        {{ refund_expr }} as _is_refund,
        {{ 'cast(' ~ currency ~ ' as varchar)' if currency is not none else 'cast(null as varchar)' }} as _currency,
        {%- for column, expression in favourites.items() if expression is not none %}
        cast({{ expression }} as varchar) as _{{ column }},
        {%- endfor %}
        {{ 'cast(' ~ product ~ ' as varchar)' if product is not none else 'cast(null as varchar)' }} as _product
    from {{ relation }}
    where {{ person_column }} is not null
        and {{ ordered_at }} is not null
    {%- if target_currency is not none and rates is none %}
        and {{ currency }} = '{{ target_currency }}'
    {%- endif %}

),
{%- if rates is not none %}

{#- Amounts converted into target_currency; a row in a currency that has no rate cannot be added up, so it
    is left out of every metric (docs/scores.md). #}
_pom_converted as (

    select
        _pom_source._person,
        _pom_source._order_id,
        _pom_source._amount * case when _pom_source._currency = '{{ target_currency }}' then 1 else _pom_rates.{{ rate_column }} end as _amount,
        _pom_source._ordered_at,
        _pom_source._is_refund,
        _pom_source._currency,
        {%- for column, expression in favourites.items() if expression is not none %}
        _pom_source._{{ column }},
        {%- endfor %}
        _pom_source._product
    from _pom_source
    left join {{ rates }} as _pom_rates on _pom_rates.{{ rate_currency }} = _pom_source._currency
    where _pom_source._currency = '{{ target_currency }}' or _pom_rates.{{ rate_column }} is not null

),
{%- endif %}

{%- if leave_out_refunded %}

{#- Orders named by a refund row, in full or in part. Read from every refund row, those without a person or in
    a currency without a rate included: the money went back all the same. #}
_pom_refunded as (

    select distinct cast({{ refunded_order_id }} as varchar) as _order_id
    from {{ relation }}
    where {{ refund_expr }}
        and {{ refunded_order_id }} is not null

),
{%- endif %}

_pom_rows as (

    select
        _pom_counted.*,
        {{ counted }} as _is_counted
    from {{ '_pom_converted' if rates is not none else '_pom_source' }} as _pom_counted
    {%- if leave_out_refunded %}
    left join _pom_refunded on _pom_refunded._order_id = cast(_pom_counted._order_id as varchar)
    {%- endif %}

),

{%- for column, expression in favourites.items() if expression is not none %}

{#- The value of most counted orders; ties: the most money, then the most recent, then the smallest value. #}
_pom_{{ column }} as (

    select
        _person,
        _value
    from (
        select
            _person,
            _{{ column }} as _value,
            row_number() over (
                partition by _person
                order by count(distinct _order_id) desc, sum(_amount) desc, max(_ordered_at) desc, _{{ column }}
            ) as _rank
        from _pom_rows
        where _is_counted and _{{ column }} is not null
        group by _person, _{{ column }}
    ) as _ranked
    where _rank = 1

),
{%- endfor %}

_pom_totals as (

    select
        _person,
        count(distinct case when _is_counted then _order_id end) as order_count,
        count(distinct case when _is_refund then _order_id end) as refund_count,
        {%- if refunds == 'exclude' %}
        coalesce(sum(case when _is_counted then _amount end), 0) as _revenue,
        {%- elif refunds == 'net' %}
        coalesce(sum(case when _is_refund then -abs(_amount) else _amount end), 0) as _revenue,
        {%- else %}
        coalesce(sum(_amount), 0) as _revenue,
        {%- endif %}
        min(case when _is_counted then _ordered_at end) as first_order_at,
        max(case when _is_counted then _ordered_at end) as last_order_at,
        count(distinct case when _is_counted then _product end) as _distinct_products
    from _pom_rows
    group by _person

)

select
    _pom_totals._person as {{ person_column }},
    _pom_totals.order_count,
    _pom_totals.refund_count,
    {{ rsync_braze._round_decimal('_pom_totals._revenue', 2) }} as revenue,
    {{ rsync_braze._round_decimal('_pom_totals._revenue / nullif(_pom_totals.order_count, 0)', 2) }} as average_basket,
    _pom_totals.first_order_at,
    _pom_totals.last_order_at,
    {#- Not negative for an order dated after as_of; NULL without any counted order. #}
    case
        when _pom_totals.last_order_at is not null
            then greatest({{ dbt.datediff('_pom_totals.last_order_at', rsync_braze._metrics_as_of(as_of), 'day') }}, 0)
    end as days_since_last_order,
    {{ '_pom_totals._distinct_products' if product is not none else 'cast(null as integer)' }} as distinct_product_count
    {%- for column, expression in favourites.items() %},
    {{ '_pom_' ~ column ~ '._value' if expression is not none else 'cast(null as varchar)' }} as {{ column }}
    {%- endfor %}
from _pom_totals
{%- for column, expression in favourites.items() if expression is not none %}
left join _pom_{{ column }} on _pom_{{ column }}._person = _pom_totals._person
{%- endfor %}

{%- endmacro %}
