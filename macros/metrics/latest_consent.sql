{% macro latest_consent(relation, person_column='person_id', channel='channel', is_opted_in='is_opted_in', consented_at='consented_at', source='source', channels=['email', 'sms']) %}
    {{ return(adapter.dispatch('latest_consent', 'rsync_braze')(relation, person_column, channel, is_opted_in, consented_at, source, channels)) }}
{% endmacro %}

{#- A select statement: one row per person of `relation` (one row per consent statement: person, channel,
    opted in or out, when, which source) with, for each channel of `channels`, <channel>_is_opted_in,
    <channel>_consent_source and <channel>_consent_at from the person's most recent statement on that channel.
    Ties on the time: an opt-out wins over an opt-in, then the first source by name. A statement without a
    time loses to any dated one; a statement whose opt-in value is NULL says nothing and is ignored. -#}
{% macro default__latest_consent(relation, person_column, channel, is_opted_in, consented_at, source, channels) %}
    {%- set name = 'latest_consent' -%}
    {{- rsync_braze._check_relation(name, relation) -}}
    {{- rsync_braze._check_metric_args(name, {'person_column': person_column, 'channel': channel, 'is_opted_in': is_opted_in, 'consented_at': consented_at, 'source': source}) -}}
    {%- if channels is string or channels is not iterable or channels | length == 0 -%}
        {{ exceptions.raise_compiler_error(name ~ "(channels): must be a non-empty list of channel names, e.g. ['email', 'sms']; got " ~ (channels | string)) }}
    {%- endif -%}
    {%- for item in channels -%}
        {%- if item is not string or not modules.re.match('^[a-z][a-z0-9_]*$', item) -%}
            {{ exceptions.raise_compiler_error(name ~ "(channels): '" ~ (item | string) ~ "' is not a usable channel name: lower-case letters, digits and _ (it names output columns)") }}
        {%- endif -%}
    {%- endfor %}

with

_consent_ranked as (

    select
        {{ person_column }} as _person,
        lower({{ channel }}) as _channel,
        {{ is_opted_in }} as _is_opted_in,
        {{ consented_at }} as _consented_at,
        cast({{ source }} as varchar) as _source,
        row_number() over (
            partition by {{ person_column }}, lower({{ channel }})
            order by {{ consented_at }} desc nulls last, case when {{ is_opted_in }} then 1 else 0 end, {{ source }}
        ) as _rank
    from {{ relation }}
    where {{ person_column }} is not null
        and {{ is_opted_in }} is not null
        and lower({{ channel }}) in ({% for item in channels %}'{{ item }}'{{ ', ' if not loop.last }}{% endfor %})

)

select
    _person as {{ person_column }}
    {%- for item in channels %},
    max(case when _channel = '{{ item }}' and _rank = 1 then case when _is_opted_in then 1 else 0 end end) = 1 as {{ item }}_is_opted_in,
    max(case when _channel = '{{ item }}' and _rank = 1 then _source end) as {{ item }}_consent_source,
    max(case when _channel = '{{ item }}' and _rank = 1 then _consented_at end) as {{ item }}_consent_at
    {%- endfor %}
from _consent_ranked
where _rank = 1
group by _person

{%- endmacro %}
