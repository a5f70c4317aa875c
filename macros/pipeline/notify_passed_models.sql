{#
    on-run-end hook: tell `rsync-braze serve` which models this dbt invocation built AND tested successfully.

    A post-hook (notify_sync) fires when a model is built, before its tests run. This hook fires at the end of
    `dbt build`, and notifies only the models that succeeded with no failed, errored or skipped test on them,
    so realtime syncs are gated by the tests of the same invocation:
        on-run-end: "{{ rsync_braze.notify_passed_models(results) }}"
#}
{% macro notify_passed_models(results) %}
    {{ return(adapter.dispatch('notify_passed_models', 'rsync_braze')(results)) }}
{% endmacro %}

{% macro default__notify_passed_models(results) %}
    {# No LISTEN/NOTIFY on this warehouse: serve's polling (--poll) picks the change up. #}
    {{ return('') }}
{% endmacro %}

{% macro postgres__notify_passed_models(results) %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set built = [] -%}
    {%- set blocked = [] -%}
    {%- for result in results -%}
        {%- set node = result.node -%}
        {%- set status = (result.status | string | lower) -%}
        {%- if node.resource_type == 'model' -%}
            {%- do (built if status == 'success' else blocked).append(node.unique_id) -%}
        {%- elif node.resource_type in ('test', 'unit_test') and status in ('fail', 'error', 'skipped', 'runtime error') -%}
            {%- for parent in node.depends_on.nodes -%}{%- do blocked.append(parent) -%}{%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set names = [] -%}
    {%- for result in results if result.node.unique_id in built and result.node.unique_id not in blocked -%}
        {%- do names.append(result.node.name) -%}
    {%- endfor -%}
    {%- if names -%}
        select {% for name in names %}pg_notify('rsync_braze', {{ dbt.string_literal(name) }}){{ ", " if not loop.last }}{% endfor %}
    {%- endif -%}
{% endmacro %}
