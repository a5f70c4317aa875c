{#
    Tell `rsync-braze serve` that a model's data changed, so its `schedule: realtime` syncs run within seconds.

    As a post-hook of the model (the NOTIFY is delivered when dbt commits the model, so serve sees new data):
        {{ config(post_hook="{{ rsync_braze.notify_sync() }}") }}
    or name what to run (a sync or a model; '*' for every realtime sync):
        {{ config(post_hook="{{ rsync_braze.notify_sync('braze_users') }}") }}
#}
{% macro notify_sync(name=none) %}
    {{ return(adapter.dispatch('notify_sync', 'rsync_braze')(name)) }}
{% endmacro %}

{% macro default__notify_sync(name) %}
    {# No LISTEN/NOTIFY on this warehouse: serve's polling (--poll) picks the change up; the hook does nothing. #}
    {{ return('') }}
{% endmacro %}

{% macro postgres__notify_sync(name) %}
    {%- set payload = name if name is not none else (model.name if model is defined and model.name is defined else this.identifier) -%}
    {%- if payload | length > 7999 -%}
        {{ exceptions.raise_compiler_error("notify_sync: the payload must be under 8000 bytes (a sync or model name).") }}
    {%- endif -%}
    select pg_notify('rsync_braze', {{ dbt.string_literal(payload) }})
{% endmacro %}
