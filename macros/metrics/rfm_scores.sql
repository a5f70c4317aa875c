{% macro rfm_scores(relation, person_column='person_id', recency='days_since_last_order', frequency='order_count', monetary='revenue', buckets=5, segments=none) %}
    {{ return(adapter.dispatch('rfm_scores', 'rsync_braze')(relation, person_column, recency, frequency, monetary, buckets, segments)) }}
{% endmacro %}

{#- A select statement: one row per row of `relation` with r_score, f_score, m_score (1 to `buckets`, higher
    is better: recent, frequent, big spender), fm_score (their rounded-up mean of f and m), rfm_cell ('545')
    and, when `segments` is given, rfm_segment. A score is a quantile by rank, so that equal values get equal
    scores: 1 + floor(buckets * (rank - 1) / n), rank counted from the worst value with ties sharing the
    lowest rank, n the number of non-null values. A NULL value gets a NULL score. -#}
{% macro default__rfm_scores(relation, person_column, recency, frequency, monetary, buckets, segments) %}
    {%- set name = 'rfm_scores' -%}
    {{- rsync_braze._check_relation(name, relation) -}}
    {{- rsync_braze._check_metric_args(name, {'person_column': person_column, 'recency': recency, 'frequency': frequency, 'monetary': monetary}) -}}
    {{- rsync_braze._check_int_arg(name, 'buckets', buckets, 2, 100) -}}
    {%- set dimensions = [('r_score', recency, 'desc'), ('f_score', frequency, 'asc'), ('m_score', monetary, 'asc')] -%}

with

_rfm_scored as (

    select
        {{ person_column }} as _person,
        {%- for score, expression, direction in dimensions %}
        case
            when {{ expression }} is not null
                then 1 + {{ rsync_braze._int_div(buckets ~ ' * (rank() over (order by ' ~ expression ~ ' ' ~ direction ~ ' nulls last) - 1)', 'count(' ~ expression ~ ') over ()') }}
        end as {{ score }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ relation }}

),

_rfm_cells as (

    select
        _person,
        r_score,
        f_score,
        m_score,
        {#- The rounded-up mean of f and m: (4, 5) gives 5, (1, 2) gives 2. #}
        1 + {{ rsync_braze._int_div('f_score + m_score - 1', '2') }} as fm_score,
        cast(r_score as varchar) || cast(f_score as varchar) || cast(m_score as varchar) as rfm_cell
    from _rfm_scored

)

select
    _person as {{ person_column }},
    r_score,
    f_score,
    m_score,
    fm_score,
    rfm_cell
    {%- if segments is not none %},
    {#- The first segment (lowest priority number) whose ranges hold the person's r_score and fm_score. #}
    (
        select _rfm_segments.segment
        from {{ segments }} as _rfm_segments
        where _rfm_cells.r_score between _rfm_segments.r_min and _rfm_segments.r_max
            and _rfm_cells.fm_score between _rfm_segments.fm_min and _rfm_segments.fm_max
        order by _rfm_segments.priority, _rfm_segments.segment
        limit 1
    ) as rfm_segment
    {%- endif %}
from _rfm_cells

{%- endmacro %}
