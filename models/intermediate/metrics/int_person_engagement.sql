{#- One row per person with at least one attached web event: sessions (30-minute inactivity gap) with an
    event in the last 30 days, events in those days, first and last seen, top 3 event types. -#}

with

events as (

    select * from {{ ref('int_web_events_persons') }}

),

engagement as (

    {{ rsync_braze.web_engagement('events', window_days=30, session_gap_minutes=30, top_n=3) | indent(4) }}

)

select * from engagement
