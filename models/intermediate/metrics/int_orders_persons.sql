{#- One row per order owned by a person: int_orders_unioned with the person id of its node, from this run's
    identity resolution. A view: persons change every run, the orders do not. -#}

{{ config(materialized='view') }}

with

orders as (

    select * from {{ ref('int_orders_unioned') }}

),

record_persons as (

    select * from {{ ref('int_identity_record_persons') }}

),

final as (

    select
        record_persons.person_id,
        orders.*
    from orders
    inner join record_persons on record_persons.record_key = orders.person_key

)

select * from final
