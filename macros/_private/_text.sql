{#- Shared pieces of the normalization macros. -#}

{#- The characters that count as white space in pasted data: space, tab, line feed, carriage return,
    no-break space, narrow no-break space (French typography), thin space, then zero-width space and the
    byte-order mark a CSV export often leaves at the start of its first value. Written as Jinja escapes,
    the compiled SQL holds the characters themselves, inside a string literal. -#}
{% macro _whitespace_chars() %}
    {{ return(adapter.dispatch('_whitespace_chars', 'rsync_braze')()) }}
{% endmacro %}

{% macro default___whitespace_chars() -%}
    {{ return(" \t\n\r\u00a0\u202f\u2009\u200b\ufeff") }}
{%- endmacro %}

{#- A BigQuery string literal in single quotes cannot hold a line break: use its escapes instead
    (untested here: no BigQuery project in this project's CI). -#}
{% macro bigquery___whitespace_chars() -%}
    {{ return(" \\t\\n\\r\\u00a0\\u202f\\u2009\\u200b\\ufeff") }}
{%- endmacro %}

{#- How many of _whitespace_chars() are visible spaces (the rest are invisible and are simply deleted). -#}
{% macro _visible_whitespace_count() -%}
    {{ return(7) }}
{%- endmacro %}

{#- "Empty-ish to NULL": the value with white space trimmed at both ends, NULL when nothing is left. -#}
{% macro _nullif_blank(value) -%}
    nullif(trim(translate({{ value }}, '{{ rsync_braze._whitespace_chars() }}', '{{ " " * rsync_braze._visible_whitespace_count() }}')), '')
{%- endmacro %}

{#- Compile-time check shared by the public macros: the column argument must be a non-empty SQL expression. -#}
{% macro _check_expression(macro_name, value) -%}
    {%- if value is not string or value | trim == '' -%}
        {{ exceptions.raise_compiler_error(macro_name ~ "(column): column must be a SQL expression given as a non-empty string, e.g. " ~ macro_name ~ "('email'); got " ~ (value | string)) }}
    {%- endif -%}
{%- endmacro %}
