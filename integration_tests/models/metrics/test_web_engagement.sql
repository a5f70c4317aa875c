{#- web_engagement as of 2026-01-31 (30-day window, 30-minute sessions, top 2 types), once sessionized by gap
    and once by the seed's session ids; actual = 'sessions by gap|sessions by id|events in window|first seen|
    last seen|top types' (';' between types: the seed is a CSV). -#}
{%- set options = {'as_of': "cast('2026-01-31 00:00:00' as timestamp)", 'top_n': 2} -%}

with

events as (

    select * from {{ ref('data_web_engagement') }}

),

by_gap as (

    {{ rsync_braze.web_engagement('events', **options) }}

),

by_id as (

    {{ rsync_braze.web_engagement('events', session_id='session_id', **options) }}

),

actual as (

    select
        by_gap.person_id,
        cast(by_gap.sessions_in_window as varchar)
            || '|' || cast(by_id.sessions_in_window as varchar)
            || '|' || cast(by_gap.events_in_window as varchar)
            || '|' || cast(by_gap.first_seen_at as varchar)
            || '|' || cast(by_gap.last_seen_at as varchar)
            || '|' || coalesce(replace(by_gap.top_event_types, ',', ';'), 'null') as actual
    from by_gap
    inner join by_id on by_id.person_id = by_gap.person_id

),

final as (

    {{ join_expected('actual', ref('data_web_engagement_expected')) }}

)

select * from final
