{#- Seeds cannot hold some inputs the macros must see: dbt reads an empty cell and the word null as NULL,
    and invisible characters are unreadable in a CSV. The seeds write them as tokens, decoded here:
    {empty} -> '', {null} -> the text 'null', {tab}, {nbsp} (U+00A0), {nnbsp} (U+202F), {bom} (U+FEFF). -#}
{% macro decode_seed_value(column) -%}
    {%- set tokens = {'{empty}': "''", '{null}': "'null'", '{tab}': 'chr(9)', '{nbsp}': 'chr(160)', '{nnbsp}': 'chr(8239)', '{bom}': 'chr(65279)'} -%}
    {%- set ns = namespace(value=column) -%}
    {%- for token, replacement in tokens.items() -%}
        {%- set ns.value = "replace(" ~ ns.value ~ ", '" ~ token ~ "', " ~ replacement ~ ")" -%}
    {%- endfor -%}
    {{ ns.value }}
{%- endmacro %}
