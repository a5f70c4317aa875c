{#- churn_risk as of 2026-01-31 with min_orders 3; one row per person of the expected seed or of the output,
    actual = 'orders|days since last|own interval|population interval|expected interval|risk'. -#}

with

orders as (

    select * from {{ ref('data_churn_risk') }}

),

scored as (

    {{ rsync_braze.churn_risk('orders', as_of="cast('2026-01-31 00:00:00' as timestamp)", min_orders=3) }}

),

actual as (

    select
        person_id,
        cast(order_count as varchar)
            || '|' || cast(days_since_last_order as varchar)
            || '|' || coalesce(cast(cast(own_interval_days as numeric(18, 2)) as varchar), 'null')
            || '|' || coalesce(cast(cast(population_interval_days as numeric(18, 2)) as varchar), 'null')
            || '|' || coalesce(cast(cast(expected_interval_days as numeric(18, 2)) as varchar), 'null')
            || '|' || coalesce(cast(cast(churn_risk as numeric(18, 2)) as varchar), 'null') as actual
    from scored

),

final as (

    {{ join_expected('actual', ref('data_churn_risk_expected')) }}

)

select * from final
