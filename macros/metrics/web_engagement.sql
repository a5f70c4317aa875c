{% macro web_engagement(relation, person_column='person_id', occurred_at='occurred_at', event_type='event_type', session_id=none, as_of=none, window_days=30, session_gap_minutes=30, top_n=3) %}
    {{ return(adapter.dispatch('web_engagement', 'rsync_braze')(relation, person_column, occurred_at, event_type, session_id, as_of, window_days, session_gap_minutes, top_n)) }}
{% endmacro %}

{#- A select statement: one row per person of `relation` (one row per web event) with sessions_in_window
    (sessions with at least one event in the `window_days` days up to as_of), events_in_window, first_seen_at,
    last_seen_at (all time) and top_event_types (the `top_n` most frequent event types of all time, most
    frequent first, ties by name, joined with ','). Without `session_id`, a session is a run of the person's
    events less than `session_gap_minutes` apart. -#}
{% macro default__web_engagement(relation, person_column, occurred_at, event_type, session_id, as_of, window_days, session_gap_minutes, top_n) %}
    {%- set name = 'web_engagement' -%}
    {{- rsync_braze._check_relation(name, relation) -}}
    {{- rsync_braze._check_metric_args(name, {'person_column': person_column, 'occurred_at': occurred_at, 'event_type': event_type}) -}}
    {{- rsync_braze._check_int_arg(name, 'window_days', window_days, 1, 3660) -}}
    {{- rsync_braze._check_int_arg(name, 'session_gap_minutes', session_gap_minutes, 1, 1440) -}}
    {{- rsync_braze._check_int_arg(name, 'top_n', top_n, 1, 50) -}}
    {%- set as_of_sql = rsync_braze._metrics_as_of(as_of) -%}

with

_web_events as (

    select
        {{ person_column }} as _person,
        {{ occurred_at }} as _occurred_at,
        cast({{ event_type }} as varchar) as _event_type
        {%- if session_id is not none %},
        cast({{ session_id }} as varchar) as _session
        {%- else %},
        lag({{ occurred_at }}) over (partition by {{ person_column }} order by {{ occurred_at }}) as _previous_at
        {%- endif %}
    from {{ relation }}
    where {{ person_column }} is not null
        and {{ occurred_at }} is not null

),
{%- if session_id is none %}

{#- Session number per person: a new session starts at a first event or after a gap. #}
_web_sessionized as (

    select
        _person,
        _occurred_at,
        _event_type,
        cast(sum(
            case
                when _previous_at is null
                    or _occurred_at >= {{ dbt.dateadd('minute', session_gap_minutes, '_previous_at') }}
                    then 1
                else 0
            end
        ) over (partition by _person order by _occurred_at rows between unbounded preceding and current row) as varchar) as _session
    from _web_events

),
{%- endif %}

_web_windowed as (

    select
        *,
        _occurred_at > {{ dbt.dateadd('day', -window_days, as_of_sql) }} and _occurred_at <= {{ as_of_sql }} as _in_window
    from {{ '_web_sessionized' if session_id is none else '_web_events' }}

),

_web_totals as (

    select
        _person,
        count(distinct case when _in_window then _session end) as sessions_in_window,
        sum(case when _in_window then 1 else 0 end) as events_in_window,
        min(_occurred_at) as first_seen_at,
        max(_occurred_at) as last_seen_at
    from _web_windowed
    group by _person

),

_web_types as (

    select
        _person,
        _event_type,
        row_number() over (partition by _person order by count(*) desc, _event_type) as _rank
    from _web_windowed
    where _event_type is not null
    group by _person, _event_type

),

_web_top_types as (

    select
        _person,
        string_agg(_event_type, ',' order by _rank) as top_event_types
    from _web_types
    where _rank <= {{ top_n }}
    group by _person

)

select
    _web_totals._person as {{ person_column }},
    _web_totals.sessions_in_window,
    _web_totals.events_in_window,
    _web_totals.first_seen_at,
    _web_totals.last_seen_at,
    _web_top_types.top_event_types
from _web_totals
left join _web_top_types on _web_top_types._person = _web_totals._person

{%- endmacro %}
