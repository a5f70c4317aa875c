{% macro parse_date_dmy(column) %}
    {{ return(adapter.dispatch('parse_date_dmy', 'rsync_braze')(column)) }}
{% endmacro %}

{#- A DD/MM/YYYY string as a date; NULL when it is not one (31/02/2024, 00/01/2024, free text).
    Nested CASEs, because SQL does not promise to evaluate AND operands left to right and an
    impossible date must never reach the date constructor. -#}
{% macro default__parse_date_dmy(column) %}
    {%- set value = "trim(" ~ column ~ ")" -%}
    {%- set d = "cast(split_part(" ~ value ~ ", '/', 1) as integer)" -%}
    {%- set m = "cast(split_part(" ~ value ~ ", '/', 2) as integer)" -%}
    {%- set y = "cast(split_part(" ~ value ~ ", '/', 3) as integer)" -%}
    case when {{ rsync_braze._regex_matches(value, '^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$') }} then
        case when {{ m }} between 1 and 12 and {{ y }} between 1 and 9999 then
            case when {{ d }} between 1 and {{ rsync_braze._date_days_in_month(y, m) }}
                then make_date({{ y }}, {{ m }}, {{ d }})
            end
        end
    end
{% endmacro %}

{% macro _date_days_in_month(year, month) %}
    {{ return(adapter.dispatch('_date_days_in_month', 'rsync_braze')(year, month)) }}
{% endmacro %}

{% macro default___date_days_in_month(year, month) %}
    cast(extract(day from (make_date({{ year }}, {{ month }}, 1) + interval '1 month' - interval '1 day')) as integer)
{% endmacro %}
