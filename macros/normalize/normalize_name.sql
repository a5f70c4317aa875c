{% macro normalize_name(column) %}
    {{ return(adapter.dispatch('normalize_name', 'rsync_braze')(column)) }}
{% endmacro %}

{#- A person's name trimmed, inner white space collapsed to one space, in title case where hyphens and
    apostrophes start a new word (jean-pierre -> Jean-Pierre, o'neil -> O'Neil). NULL when empty, when the
    whole value is a placeholder (n/a, null, none, unknown, test, ...), or when it holds no letter at all
    (-, ., ?, 123). -#}
{% macro default__normalize_name(column) %}
    {%- do rsync_braze._check_expression('normalize_name', column) -%}
    {%- set collapsed = rsync_braze._regex_replace_all(column, '[' ~ rsync_braze._whitespace_chars() ~ ']+', ' ') -%}
    {%- set value = rsync_braze._nullif_blank(collapsed) -%}
    case
        when lower({{ value }}) in (
            {%- for placeholder in rsync_braze._name_placeholders() -%}
            '{{ placeholder }}'{{ ", " if not loop.last }}
            {%- endfor -%}
        ) then null
        when {{ rsync_braze._regex_matches(value, '^[-0-9 .,;:!?/_*#@&+=()"~]*$') }} then null
        else {{ rsync_braze._title_case(value) }}
    end
{% endmacro %}

{#- Whole values that stand for "no name" in exports and forms (compared in lower case). -#}
{% macro _name_placeholders() -%}
    {{ return(['n/a', 'n.a.', 'null', 'none', 'nil', 'nan', 'unknown', 'inconnu', 'test', 'xxx', 'aucun']) }}
{%- endmacro %}


{#- Title case where every run of letters and digits starts with a capital, the rest in lower case. -#}
{% macro _title_case(value) %}
    {{ return(adapter.dispatch('_title_case', 'rsync_braze')(value)) }}
{% endmacro %}

{#- PostgreSQL's initcap starts a word after any character that is not a letter or a digit. Accented
    letters change case as the database's LC_CTYPE allows (C.UTF-8 or a UTF-8 locale does; the plain C
    locale leaves them alone). BigQuery's initcap is documented to split on - and the apostrophe too
    (untested here). -#}
{% macro default___title_case(value) -%}
    initcap({{ value }})
{%- endmacro %}

{#- DuckDB has no initcap: split into runs of letters/digits and runs of anything else, capitalise the
    first character of each run (a no-op on the others) and join them back. -#}
{% macro duckdb___title_case(value) -%}
    array_to_string(list_transform(regexp_extract_all({{ value }}, '[\pL\pN]+|[^\pL\pN]+'), lambda part: upper(part[1]) || lower(part[2:])), '')
{%- endmacro %}

{#- Snowflake's initcap does not start a word after an apostrophe unless told which delimiters to use
    (untested here: no Snowflake account in this project's CI). -#}
{% macro snowflake___title_case(value) -%}
    initcap({{ value }}, ' -''')
{%- endmacro %}

{#- Databricks' initcap splits on spaces only: same split-and-join as DuckDB, in Spark SQL
    (untested here: no Databricks workspace in this project's CI). chr(39) is the apostrophe, which a
    Spark SQL string literal cannot hold as ''; the hyphen comes last in the
    brackets, where it is not a range. -#}
{% macro databricks___title_case(value) -%}
    array_join(transform(regexp_extract_all({{ value }}, concat('([^ ', chr(39), '-]+|[ ', chr(39), '-])'), 1), part -> concat(upper(substr(part, 1, 1)), lower(substr(part, 2)))), '')
{%- endmacro %}
