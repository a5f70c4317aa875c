{#- One row per custom event for Braze's events sync, with a unique event_id: order_completed (each e-shop
    order and till sale that was not cancelled, at its order time), order_refunded (a refund receipt, or an
    e-shop order marked refunded, at the refund's time) and the web events of identified visitors except
    page views (one per page would cost a data point each for little targeting value). external_id is the
    person id of braze_users; amounts are in the order's own currency.

    Incremental (docs/scores.md, "Incremental models"): a run builds again only the events of
      - the orders that may have changed (e-shop orders updated since the latest order_updated_at here, till
        receipts within var('rsync_braze_orders_lookback_days') of the latest one here: the rule of
        int_orders_unioned),
      - the identity-graph nodes and web events whose person changed since the last build (a merge or a
        split, a person who became a user or stopped being one, a browser identified): int_event_person_keys
        compared with braze_events__person_keys, the copy the post-hook keeps of it.
    Rows of those orders and events that are no longer events (a cancelled order, a person no longer synced)
    are sent as tombstones (external_id NULL): delete+insert removes the old row, the post-hook the tombstone. -#}

{{ config(
    materialized='incremental',
    unique_key='event_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook=[
        "delete from {{ this }} where external_id is null",
        "{{ rsync_braze.snapshot_person_keys(ref('int_event_person_keys'), ['node', 'web']) }}",
    ],
) }}

{%- set previous_keys = rsync_braze._previous_person_keys(this) if is_incremental() else none %}
{#- Without the snapshot (dropped by hand) every event is built again and every old row compared. #}
{%- set read_changes_only = is_incremental() and previous_keys is not none %}

{#- int_event_person_keys is joined by name, not through an import CTE: PostgreSQL would materialize a CTE read
    several times, without statistics, and plan every join on it blind. #}
{%- set person_keys = ref('int_event_person_keys') %}

with
{%- if read_changes_only %}

changed_nodes as (

    {{ rsync_braze._changed_person_keys(person_keys, previous_keys, 'node') | indent(4) }}

),

changed_web_events as (

    {{ rsync_braze._changed_person_keys(person_keys, previous_keys, 'web') | indent(4) }}

),
{%- endif %}

orders as (

    {%- if read_changes_only %}
    {{ rsync_braze._orders_to_rebuild(ref('int_orders_unioned'), this, 'changed_nodes') | indent(4) }}
    {%- else %}
    select * from {{ ref('int_orders_unioned') }}
    {%- endif %}

),

web_events as (

    select * from {{ ref('int_web_events_persons') }}
    where event_type <> 'page_view'
    {%- if read_changes_only %}
        and exists (select 1 from changed_web_events where changed_web_events.person_key = event_id)
    {%- endif %}

),

{#- The person of each order and web event from person_keys: only persons synced as users (braze_users), so an
    event never creates a profile of its own in Braze. #}
owned_orders as (

    select
        nodes.person_id,
        orders.*
    from orders
    inner join {{ person_keys }} as nodes
        on nodes.key_type = 'node'
        and nodes.person_key = orders.person_key
    where orders.order_status <> 'cancelled'

),

owned_web_events as (

    select
        attached.person_id as attached_person_id,
        web_events.*
    from web_events
    inner join {{ person_keys }} as attached
        on attached.key_type = 'web'
        and attached.person_key = web_events.event_id

),

order_events as (

    select
        'order:' || order_id as event_id,
        person_id as external_id,
        'order_completed' as event_name,
        ordered_at as occurred_at,
        order_id,
        channel,
        cast(amount as double precision) as amount,
        currency,
        store_id,
        cast(null as varchar) as product_id,
        updated_at as order_updated_at
    from owned_orders
    where channel = 'eshop' or not is_refund

    union all

    select
        'refund:' || order_id as event_id,
        person_id as external_id,
        'order_refunded' as event_name,
        {#- A refunded e-shop order was refunded when it was last updated; a refund receipt when it was made. #}
        case when channel = 'eshop' then updated_at else ordered_at end as occurred_at,
        order_id,
        channel,
        cast(abs(amount) as double precision) as amount,
        currency,
        store_id,
        cast(null as varchar) as product_id,
        updated_at as order_updated_at
    from owned_orders
    where is_refund

),

site_events as (

    select
        'web:' || event_id as event_id,
        attached_person_id as external_id,
        event_type as event_name,
        occurred_at,
        cast(null as varchar) as order_id,
        'web' as channel,
        cast(null as double precision) as amount,
        cast(null as varchar) as currency,
        cast(null as varchar) as store_id,
        properties ->> 'product_id' as product_id,
        cast(null as timestamp with time zone) as order_updated_at
    from owned_web_events

),

events as (

    select * from order_events
    union all
    select * from site_events

),
{%- if is_incremental() %}

{#- Rows built before for the orders and web events read again that this run does not build again. Inner joins
    of the mart on the small sets read again, then the anti-join: an outer join over the whole mart (or one join on
    their union) is planned as a hash of all of it. #}
tombstones as (

    select
        previous.event_id,
        cast(null as varchar) as external_id,
        previous.event_name,
        previous.occurred_at,
        previous.order_id,
        previous.channel,
        previous.amount,
        previous.currency,
        previous.store_id,
        previous.product_id,
        previous.order_updated_at
    from (
        {%- if read_changes_only %}
        select previous.*
        from {{ this }} as previous
        inner join (select distinct order_id from orders) as read_orders on read_orders.order_id = previous.order_id

        union all

        select previous.*
        from {{ this }} as previous
        inner join changed_web_events on 'web:' || changed_web_events.person_key = previous.event_id
        {%- else %}
        select * from {{ this }}
        {%- endif %}
    ) as previous
    where not exists (select 1 from events where events.event_id = previous.event_id)

),
{%- endif %}

final as (

    select * from events
    {%- if is_incremental() %}
    union all
    select * from tombstones
    {%- endif %}

)

select * from final
