{#- Unpivot the records of an entity into one row per (record, identifier type, value), from the
    expressions configured in var('rsync_braze_identity_identifiers')[entity]. The records relation must
    have node_id, record_key, source, first_seen_at and updated_at, plus the columns the expressions use. -#}
{% macro identity_identifiers(entity, records) %}
    {{ return(adapter.dispatch('identity_identifiers', 'rsync_braze')(entity, records)) }}
{% endmacro %}

{% macro default__identity_identifiers(entity, records) %}
    {%- set config = var('rsync_braze_identity_identifiers', {}) -%}
    {%- if config is not mapping or entity not in config or config[entity] is not mapping or config[entity] | length == 0 -%}
        {{ exceptions.raise_compiler_error("var('rsync_braze_identity_identifiers') has no identifier types for entity '" ~ entity
            ~ "': give a mapping {" ~ entity ~ ": {id_type: SQL expression, ...}} in dbt_project.yml") }}
    {%- endif -%}
    {%- for id_type, expression in config[entity].items() %}
    {%- if expression is not string or id_type is not string or not modules.re.match('^[a-z][a-z0-9_]*$', id_type) -%}
        {{ exceptions.raise_compiler_error("var('rsync_braze_identity_identifiers')." ~ entity ~ ": identifier type '" ~ id_type
            ~ "' needs a lower-case name (letters, digits, _) and a SQL expression as a string") }}
    {%- endif %}
    select
        node_id,
        record_key,
        source,
        '{{ id_type }}' as id_type,
        value as id_value,
        first_seen_at,
        updated_at as last_seen_at
    from (
        select *, trim(cast({{ expression }} as varchar)) as value from {{ records }}
    ) with_value
    where value is not null
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{% endmacro %}
