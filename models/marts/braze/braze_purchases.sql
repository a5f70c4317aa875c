{#- One row per order line of a completed purchase (e-shop orders neither cancelled nor refunded, till sales),
    for Braze's purchases sync: purchase_id (the line id, unique), external_id, product_id, currency (the
    order's own), price (unit price), quantity, purchased_at. Refunds are not purchases; braze_events carries
    them as order_refunded.

    Incremental like braze_events (docs/scores.md, "Incremental models"): a run builds again the lines of the
    orders that may have changed (the rule of int_orders_unioned, against order_updated_at here) and of the
    identity-graph nodes whose person changed since the last build (int_event_person_keys compared with
    braze_purchases__person_keys); lines that are no longer purchases go as tombstones (external_id NULL),
    removed by the post-hook. -#}

{{ config(
    materialized='incremental',
    unique_key='purchase_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook=[
        "delete from {{ this }} where external_id is null",
        "{{ rsync_braze.snapshot_person_keys(ref('int_event_person_keys'), ['node']) }}",
    ],
) }}

{%- set previous_keys = rsync_braze._previous_person_keys(this) if is_incremental() else none %}
{#- Without the snapshot (dropped by hand) every line is built again and every old row compared. #}
{%- set read_changes_only = is_incremental() and previous_keys is not none %}

{#- int_event_person_keys is joined by name, not through an import CTE: PostgreSQL would materialize a CTE read
    several times, without statistics, and plan every join on it blind. #}
{%- set person_keys = ref('int_event_person_keys') %}

with
{%- if read_changes_only %}

changed_nodes as (

    {{ rsync_braze._changed_person_keys(person_keys, previous_keys, 'node') | indent(4) }}

),
{%- endif %}

order_lines as (

    {%- if read_changes_only %}
    {{ rsync_braze._orders_to_rebuild(ref('int_order_lines_unioned'), this, 'changed_nodes') | indent(4) }}
    {%- else %}
    select * from {{ ref('int_order_lines_unioned') }}
    {%- endif %}

),

{#- Only persons synced as users (braze_users): an event must not create a profile of its own in Braze. #}
purchases as (

    select
        order_lines.order_line_id as purchase_id,
        nodes.person_id as external_id,
        order_lines.product_id,
        order_lines.currency,
        cast(order_lines.unit_price as double precision) as price,
        order_lines.quantity,
        order_lines.ordered_at as purchased_at,
        order_lines.order_id,
        order_lines.channel,
        order_lines.store_id,
        order_lines.product_category,
        order_lines.updated_at as order_updated_at
    from order_lines
    inner join {{ person_keys }} as nodes
        on nodes.key_type = 'node'
        and nodes.person_key = order_lines.person_key
    where order_lines.order_status = 'completed'
        and not order_lines.is_refund

),
{%- if is_incremental() %}

{#- Rows built before for the order lines read again that this run does not build again. #}
tombstones as (

    select
        previous.purchase_id,
        cast(null as varchar) as external_id,
        previous.product_id,
        previous.currency,
        previous.price,
        previous.quantity,
        previous.purchased_at,
        previous.order_id,
        previous.channel,
        previous.store_id,
        previous.product_category,
        previous.order_updated_at
    {%- if read_changes_only %}
    from {{ this }} as previous
    inner join (select distinct order_id from order_lines) as read_orders on read_orders.order_id = previous.order_id
    {%- else %}
    from {{ this }} as previous
    {%- endif %}
    where not exists (select 1 from purchases where purchases.purchase_id = previous.purchase_id)

),
{%- endif %}

final as (

    select * from purchases
    {%- if is_incremental() %}
    union all
    select * from tombstones
    {%- endif %}

)

select * from final
