{#- The order in which a person's candidate values of one field compete (first wins), for a survivorship
    strategy: source_priority (most trusted source, then most recent), most_recent (latest order_column,
    default updated_at), most_frequent (value held by most records; needs <field>__frequency), most_complete
    (longest value, then most frequent). NULLs always lose; ties end on source rank, recency, record key. -#}
{% macro identity_survivorship_order(field, strategy, order_column=none) %}
    {{ return(adapter.dispatch('identity_survivorship_order', 'rsync_braze')(field, strategy, order_column)) }}
{% endmacro %}

{% macro default__identity_survivorship_order(field, strategy, order_column) -%}
    {%- set recency = (order_column or 'updated_at') -%}
    case when {{ field }} is null then 1 else 0 end,
    {%- if strategy == 'source_priority' %}
    source_rank, {{ recency }} desc,
    {%- elif strategy == 'most_recent' %}
    case when {{ recency }} is null then 1 else 0 end, {{ recency }} desc, source_rank,
    {%- elif strategy == 'most_frequent' %}
    {{ field }}__frequency desc, source_rank, {{ recency }} desc,
    {%- elif strategy == 'most_complete' %}
    length(cast({{ field }} as varchar)) desc, {{ field }}__frequency desc, source_rank,
    {%- else %}
    {{ exceptions.raise_compiler_error("survivorship strategy '" ~ strategy ~ "' for field " ~ field ~ " is unknown: use source_priority, most_recent, most_frequent or most_complete (seeds/identity/identity_survivorship.csv)") }}
    {%- endif %}
    updated_at desc, record_key
{%- endmacro %}


{#- The survivorship rules of an entity, read from the seed at run time: a list of (field, strategy,
    order_column). At parse time, an empty list. -#}
{% macro identity_survivorship_rules(entity, seed) %}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set result = run_query("select field, strategy, order_column from " ~ seed ~ " where entity = '" ~ entity ~ "' order by field") -%}
    {%- set rules = [] -%}
    {%- for row in result.rows -%}
        {%- do rules.append({"field": row[0], "strategy": row[1], "order_column": row[2]}) -%}
    {%- endfor -%}
    {%- if rules | length == 0 -%}
        {{ exceptions.raise_compiler_error("no survivorship rule for entity '" ~ entity ~ "' in " ~ seed ~ ": add rows (entity, field, strategy, order_column)") }}
    {%- endif -%}
    {{ return(rules) }}
{% endmacro %}
