{% macro source_rank(column) %}
    {{ return(adapter.dispatch('source_rank', 'rsync_braze')(column)) }}
{% endmacro %}

{#- Rank of a source in var('rsync_braze_source_priority') (1 = most trusted); sources not listed rank last. -#}
{% macro default__source_rank(column) %}
    {%- set priority = var('rsync_braze_source_priority') -%}
    {%- if priority is string or priority | length == 0 -%}
        {{ exceptions.raise_compiler_error("var('rsync_braze_source_priority') must be a non-empty list of source names, e.g. ['crm', 'eshop', 'file']") }}
    {%- endif -%}
    case {{ column }}
    {%- for source in priority %}
        when '{{ source }}' then {{ loop.index }}
    {%- endfor %}
        else {{ priority | length + 1 }}
    end
{% endmacro %}
