{#- One row per order line owned by a person: int_order_lines_unioned with the person id of its node (see
    int_orders_persons). A view. -#}

{{ config(materialized='view') }}

with

order_lines as (

    select * from {{ ref('int_order_lines_unioned') }}

),

record_persons as (

    select * from {{ ref('int_identity_record_persons') }}

),

final as (

    select
        record_persons.person_id,
        order_lines.*
    from order_lines
    inner join record_persons on record_persons.record_key = order_lines.person_key

)

select * from final
