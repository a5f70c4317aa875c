{#- The segment mapping (seeds/metrics/rfm_segments.csv) names a segment for every (r_score, fm_score) pair of
    the configured bucket count: one row per pair left without a segment. -#}
{%- set buckets = var('rsync_braze_rfm_buckets', 5) -%}

with

scores as (

    {%- for score in range(1, buckets + 1) %}
    select {{ score }} as score {{ 'union all' if not loop.last }}
    {%- endfor %}

),

pairs as (

    select r.score as r_score, fm.score as fm_score
    from scores as r
    cross join scores as fm

)

select pairs.*
from pairs
where not exists (
    select 1
    from {{ ref('rfm_segments') }} as segments
    where pairs.r_score between segments.r_min and segments.r_max
        and pairs.fm_score between segments.fm_min and segments.fm_max
)
