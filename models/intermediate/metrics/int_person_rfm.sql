{#- One row per person with at least one order: recency, frequency and monetary scores (quintiles by
    default, var('rsync_braze_rfm_buckets')) and the segment named by seeds/metrics/rfm_segments.csv. -#}

with

metrics as (

    select * from {{ ref('int_person_order_metrics') }}
    where order_count > 0

),

scored as (

    {{ rsync_braze.rfm_scores(
        'metrics',
        recency='days_since_last_order',
        frequency='order_count',
        monetary='revenue',
        buckets=var('rsync_braze_rfm_buckets', 5),
        segments=ref('rfm_segments'),
    ) | indent(4) }}

),

final as (

    select
        scored.*,
        metrics.days_since_last_order as recency_days,
        metrics.order_count as frequency,
        metrics.revenue as monetary
    from scored
    inner join metrics on metrics.person_id = scored.person_id

)

select * from final
