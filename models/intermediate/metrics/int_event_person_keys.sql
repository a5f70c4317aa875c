{#- One row per key through which an event or a purchase reaches a person synced as a user (braze_users): an
    identity-graph node (key_type 'node', person_key = record_key, the person_key of int_orders_unioned) or an
    attached web event other than a page view (key_type 'web', person_key = the web event id), with the
    person id of this run. braze_events and braze_purchases take their external_id from here, and keep a copy
    of it after each build (<mart>__person_keys): the keys whose person differs next time are the rows to build
    again (identity resolution merged or split persons, a person became a user, a browser was identified). -#}

with

users as (

    select person_id from {{ ref('int_customer_golden_records') }}

),

record_persons as (

    select * from {{ ref('int_identity_record_persons') }}

),

web_events as (

    select * from {{ ref('int_web_events_persons') }}
    where event_type <> 'page_view'

),

nodes as (

    select
        'node' as key_type,
        record_key as person_key,
        person_id
    from record_persons
    where person_id in (select person_id from users)

),

web as (

    select
        'web' as key_type,
        event_id as person_key,
        person_id
    from web_events
    where person_id in (select person_id from users)

),

final as (

    select * from nodes
    union all
    select * from web

)

select * from final
