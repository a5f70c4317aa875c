{#- Shared pieces of the metrics macros (private). -#}

{#- Compile-time check: each named argument must be a non-empty SQL expression (a string). -#}
{% macro _check_metric_args(macro_name, args) -%}
    {%- for name, value in args.items() -%}
        {%- if value is not string or value | trim == '' -%}
            {{ exceptions.raise_compiler_error(macro_name ~ "(" ~ name ~ "): must be a column or SQL expression given as a non-empty string, e.g. " ~ name ~ "='" ~ name ~ "'; got " ~ (value | string)) }}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#- Compile-time check: `relation` is a Relation (ref, source) or the name of a CTE or table, as a string. -#}
{% macro _check_relation(macro_name, relation) -%}
    {%- if relation is none or (relation is string and relation | trim == '') -%}
        {{ exceptions.raise_compiler_error(macro_name ~ "(relation): give a relation (ref('orders'), source(...)) or the name of a CTE as a string") }}
    {%- endif -%}
{%- endmacro %}

{#- Compile-time check: an integer argument within bounds. -#}
{% macro _check_int_arg(macro_name, name, value, minimum, maximum) -%}
    {%- if value is not number or value != (value | int) or value < minimum or value > maximum -%}
        {{ exceptions.raise_compiler_error(macro_name ~ "(" ~ name ~ "): must be an integer from " ~ minimum ~ " to " ~ maximum ~ "; got " ~ (value | string)) }}
    {%- endif -%}
{%- endmacro %}

{#- The time the metrics are computed at: the `as_of` argument (a SQL expression), else
    var('rsync_braze_metrics_as_of') (a literal such as '2026-11-01 00:00:00+00'), else the current time. -#}
{% macro _metrics_as_of(as_of=none) -%}
    {%- if as_of is not none -%}
        {{ as_of }}
    {%- elif var('rsync_braze_metrics_as_of', none) is not none -%}
        cast('{{ var("rsync_braze_metrics_as_of") }}' as timestamp with time zone)
    {%- else -%}
        current_timestamp
    {%- endif -%}
{%- endmacro %}

{% macro _int_div(numerator, denominator) %}
    {{ return(adapter.dispatch('_int_div', 'rsync_braze')(numerator, denominator)) }}
{% endmacro %}

{#- Integer division truncating toward zero (the operands are non-negative here). -#}
{% macro default___int_div(numerator, denominator) -%}
    ({{ numerator }}) / ({{ denominator }})
{%- endmacro %}

{#- DuckDB's / on two integers returns a double; // is its integer division. -#}
{% macro duckdb___int_div(numerator, denominator) -%}
    ({{ numerator }}) // ({{ denominator }})
{%- endmacro %}

{#- A ratio or score rounded to `digits` decimals, as an exact decimal (same digits on every adapter). -#}
{% macro _round_decimal(expression, digits) -%}
    round(cast({{ expression }} as numeric(18, 6)), {{ digits }})
{%- endmacro %}
