{#- One row per person with at least one order (refunds, refunded sales and cancelled orders aside): churn_risk from the days
    since their last order against their own usual interval between orders (3 orders or more), else the
    population's median interval. Formula: docs/scores.md. -#}

with

orders as (

    select * from {{ ref('int_orders_persons') }}
    where not is_refund
        and order_status <> 'cancelled'
        {#- A till sale named by a refund receipt is refunded, as int_person_order_metrics counts it. #}
        and order_id not in (
            select original_transaction_id
            from {{ ref('stg_pos__transactions') }}
            where original_transaction_id is not null
        )

),

scored as (

    {{ rsync_braze.churn_risk('orders', min_orders=3) | indent(4) }}

)

select * from scored
