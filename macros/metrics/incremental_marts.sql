{#- Pieces shared by the incremental order models and marts (docs/scores.md, "Incremental models"). -#}

{#- A scalar subquery: the latest `column` of the rows of `channel` in `relation` (an incremental model's
    {{ this }}), `lookback_days` earlier. A channel without rows gives a time far in the past, so it is read
    in full rather than never. -#}
{% macro _incremental_watermark(relation, column, channel, lookback_days=0) -%}
    {%- set latest = 'max(' ~ column ~ ')' -%}
    (
        select coalesce(
            {{ dbt.dateadd('day', -lookback_days, latest) if lookback_days else latest }},
            cast('1900-01-01 00:00:00+00' as timestamp with time zone)
        )
        from {{ relation }}
        where channel = '{{ channel }}'
    )
{%- endmacro %}

{#- A boolean expression over int_orders_unioned's columns (or its lines'): the orders that may have changed
    since `relation` (the incremental model reading them) was built. E-shop orders updated at or after the
    latest `updated_column` of its e-shop rows (the shop stamps every change); till receipts dated within
    var('rsync_braze_orders_lookback_days') of its latest receipt (a till has no update stamp and syncs late). -#}
{% macro _orders_changed_since(relation, updated_column='updated_at', ordered_column='ordered_at') -%}
    (channel = 'eshop' and updated_at >= {{ rsync_braze._incremental_watermark(relation, updated_column, 'eshop') }})
        or (channel = 'pos' and ordered_at >= {{ rsync_braze._incremental_watermark(relation, ordered_column, 'pos', var('rsync_braze_orders_lookback_days', 14)) }})
{%- endmacro %}

{#- The table keeping the person keys `relation` (a mart) was last built with: <mart>__person_keys, next to it. -#}
{% macro _person_keys_snapshot(relation) -%}
    {{ return(relation.incorporate(path={"identifier": relation.identifier ~ "__person_keys"})) }}
{%- endmacro %}

{#- The snapshot of `relation`'s person keys if it exists (none on a first build, or after it was dropped). -#}
{% macro _previous_person_keys(relation) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set snapshot = rsync_braze._person_keys_snapshot(relation) -%}
    {{ return(adapter.get_relation(snapshot.database, snapshot.schema, snapshot.identifier)) }}
{%- endmacro %}

{#- A select of the keys of `key_type` whose person differs between `current` (int_event_person_keys) and
    `previous` (the snapshot the mart was last built with): new keys, keys gone (their person is no longer a
    user, or the event is no longer attached) and keys whose person changed (identity resolution merged or
    split persons). -#}
{% macro _changed_person_keys(current, previous, key_type) -%}
    select coalesce(now_keys.person_key, then_keys.person_key) as person_key
    from (select person_key, person_id from {{ current }} where key_type = '{{ key_type }}') as now_keys
    full outer join (select person_key, person_id from {{ previous }} where key_type = '{{ key_type }}') as then_keys
        on then_keys.person_key = now_keys.person_key
    where now_keys.person_id is distinct from then_keys.person_id
{%- endmacro %}

{#- Post-hook of an incremental mart: keep the person keys it was just built with (key types `key_types` of
    `person_keys`), for the next run to find whose person changed. Runs in the model's transaction. -#}
{% macro snapshot_person_keys(person_keys, key_types) %}
    {%- if execute -%}
        {%- set snapshot = rsync_braze._person_keys_snapshot(this) -%}
        {%- do run_query("drop table if exists " ~ snapshot) -%}
        {%- do run_query("create table " ~ snapshot ~ " as select key_type, person_key, person_id from "
            ~ person_keys ~ " where key_type in ('" ~ key_types | join("', '") ~ "')") -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}

{#- A select of the rows of `relation` (int_orders_unioned or its lines) an incremental mart (`mart`, its {{ this }})
    builds again: the orders that may have changed since it was built (the rule of _orders_changed_since, its
    two watermarks read in one scan of the mart) and those of the nodes in `changed_nodes` (a CTE of person_key).
    A union of two scans, not one scan with `or person_key in (...)`: PostgreSQL cannot estimate the changed keys
    (a full outer join) and plans that OR as a sort of every order, or a subplan run per row (minutes at 1M
    people instead of seconds). -#}
{% macro _orders_to_rebuild(relation, mart, changed_nodes) -%}
    {%- set far = "cast('1900-01-01 00:00:00+00' as timestamp with time zone)" -%}
    {%- set latest_pos = "max(case when channel = 'pos' then order_updated_at end)" -%}
    {%- set changed -%}
        coalesce(
            (channel = 'eshop' and updated_at >= (select eshop_from from _watermarks))
            or (channel = 'pos' and ordered_at >= (select pos_from from _watermarks)),
            false
        )
    {%- endset -%}
    with _watermarks as (
        select
            coalesce(max(case when channel = 'eshop' then order_updated_at end), {{ far }}) as eshop_from,
            coalesce({{ dbt.dateadd('day', -var('rsync_braze_orders_lookback_days', 14), latest_pos) }}, {{ far }}) as pos_from
        from {{ mart }}
    )

    select * from {{ relation }}
    where {{ changed }}

    union all

    select * from {{ relation }}
    where person_key in (select person_key from {{ changed_nodes }})
        and not {{ changed }}
{%- endmacro %}
