{% macro normalize_country(column) %}
    {{ return(adapter.dispatch('normalize_country', 'rsync_braze')(column)) }}
{% endmacro %}

{#- An ISO-3166-1 alpha-2 country code (upper case) from an alpha-2 code, an alpha-3 code or a country name
    in English or French, or a local name of the main European countries (Deutschland, España, België...),
    whatever the case, spaces, punctuation and accents: the value is reduced to its letters a to z before
    the look-up, so "Royaume-Uni", "ROYAUME UNI" and "royaume-uni " are one key. NULL when unknown.
    The names are in _country_aliases(). -#}
{% macro default__normalize_country(column) %}
    {%- do rsync_braze._check_expression('normalize_country', column) -%}
    case {{ rsync_braze._country_key(column) }}
        {%- for key, code in rsync_braze._country_lookup().items() %}
        when '{{ key }}' then '{{ code }}'
        {%- endfor %}
    end
{% endmacro %}

{#- PostgreSQL: one look-up in a constant jsonb object (parsed once per query, a binary search per row)
    instead of a CASE of some 1,400 branches compared one after the other: 100,000 rows in 0.4 s against
    1.3 s. -#}
{% macro postgres__normalize_country(column) %}
    {%- do rsync_braze._check_expression('normalize_country', column) -%}
    (cast('{{ tojson(rsync_braze._country_lookup()) }}' as jsonb) ->> {{ rsync_braze._country_key(column) }})
{% endmacro %}

{#- DuckDB: one look-up in a constant MAP, about three times faster than the long CASE (100,000 rows:
    0.7 s against 1.9 s). A MAP subscript returns the value itself from DuckDB 1.1 on. -#}
{% macro duckdb__normalize_country(column) %}
    {%- do rsync_braze._check_expression('normalize_country', column) -%}
    {%- set entries = [] -%}
    {%- for key, code in rsync_braze._country_lookup().items() -%}
        {%- do entries.append("'" ~ key ~ "': '" ~ code ~ "'") -%}
    {%- endfor -%}
    (map {{ '{' }}{{ entries | join(', ') }}{{ '}' }}[{{ rsync_braze._country_key(column) }}])
{% endmacro %}

{#- The look-up key of a value: accents dropped, lower case, letters a to z only. -#}
{% macro _country_key(column) -%}
    {%- set accented = 'àáâãäåāăąçćčĉċďèéêëēĕėęěĝğġģĥìíîïĩīĭįıĵķĺļľŀłñńņňòóôõöøōŏőŕŗřśŝşšșţťțùúûüũūŭůűųŵýÿŷźżžÀÁÂÃÄÅĀĂĄÇĆČĈĊĎÈÉÊËĒĔĖĘĚĜĞĠĢĤÌÍÎÏĨĪĬĮĴĶĹĻĽĿŁÑŃŅŇÒÓÔÕÖØŌŎŐŔŖŘŚŜŞŠȘŢŤȚÙÚÛÜŨŪŬŮŰŲŴÝŸŶŹŻŽđĐðÐ' -%}
    {%- set plain = 'aaaaaaaaacccccdeeeeeeeeegggghiiiiiiiiijklllllnnnnooooooooorrrssssstttuuuuuuuuuuwyyyzzzaaaaaaaaacccccdeeeeeeeeegggghiiiiiiiijklllllnnnnooooooooorrrssssstttuuuuuuuuuuwyyyzzzdddd' -%}
    {%- set ligatures = "replace(replace(replace(replace(replace(replace(replace(" ~ column
        ~ ", 'ß', 'ss'), 'æ', 'ae'), 'Æ', 'ae'), 'œ', 'oe'), 'Œ', 'oe'), 'þ', 'th'), 'Þ', 'th')" -%}
    {{ rsync_braze._regex_replace_all("lower(translate(" ~ ligatures ~ ", '" ~ accented ~ "', '" ~ plain ~ "'))", '[^a-z]', '') }}
{%- endmacro %}

{#- key -> alpha-2 code, built from _country_aliases(): each alpha-2 and alpha-3 code and each name, reduced
    to its letters a to z (names there are already in lower case without accents). -#}
{% macro _country_lookup() -%}
    {%- set lookup = {} -%}
    {%- for line in rsync_braze._country_aliases().strip().split('\n') -%}
        {%- set parts = line.strip().split(' ', 2) -%}
        {%- set code = parts[0] -%}
        {%- do lookup.update({code | lower: code, parts[1] | lower: code}) -%}
        {%- if parts | length > 2 -%}
            {%- for name in parts[2].split(';') -%}
                {%- do lookup.update({modules.re.sub('[^a-z]', '', name | lower): code}) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do return(lookup) -%}
{%- endmacro %}
