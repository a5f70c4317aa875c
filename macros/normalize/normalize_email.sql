{% macro normalize_email(column) %}
    {{ return(adapter.dispatch('normalize_email', 'rsync_braze')(column)) }}
{% endmacro %}

{#- An email address trimmed, lower-cased, with any white space inside removed; NULL when that is not a
    plausible address: exactly one @, a local part of the usual characters, a domain of dot-separated labels
    (letters, digits, hyphens) ending in a TLD of two letters or more. Placeholders such as test@test.com
    pass: unification blocks them later (seeds/identity/identity_blocked_values.csv). -#}
{% macro default__normalize_email(column) %}
    {%- do rsync_braze._check_expression('normalize_email', column) -%}
    {%- set cleaned = "lower(translate(" ~ column ~ ", '" ~ rsync_braze._whitespace_chars() ~ "', ''))" -%}
    case
        when {{ rsync_braze._regex_matches(cleaned, '^[^@,;:<>()"]+@([a-z0-9-]+[.])+[a-z][a-z]+$') }}
            then {{ cleaned }}
    end
{% endmacro %}
