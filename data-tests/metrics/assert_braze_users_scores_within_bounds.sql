{#- Every computed field of braze_users within its bounds: RFM scores from 1 to the bucket count, a segment
    exactly when there are scores, churn risk from 0 to 1, money and counts not negative, sessions not more
    than events. One row per person breaking a bound. -#}
{%- set buckets = var('rsync_braze_rfm_buckets', 5) -%}

select *
from {{ ref('braze_users') }}
where rfm_recency_score not between 1 and {{ buckets }}
    or rfm_frequency_score not between 1 and {{ buckets }}
    or rfm_monetary_score not between 1 and {{ buckets }}
    or (rfm_segment is null) <> (rfm_recency_score is null)
    or (rfm_recency_score is null) <> (order_count = 0)
    or churn_risk not between 0 and 1
    or ltv < 0
    or average_basket < 0
    or order_count < 0
    or refund_count < 0
    or sessions_30d > web_events_30d
    or last_order_at < first_order_at
