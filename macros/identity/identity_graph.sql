{#- The identifier graph of an entity, as SQL to put in a model: the verdict of each identifier group and
    the star edges of the groups that link. Models of any entity (customers, companies...) call these with
    their own identifiers, rules and blocklist, so the rules live in one place. -#}


{#- One row per identifier group (id_type, id_value) with its verdict (link_status): 'no_rule' (the type has
    no rule for this entity), 'blocked' (a blocked value: exact or regex in the blocklist, or a row of
    extra_blocked), 'over_size_cap' (more records than the type's max_group_size), 'single' (one record) or
    'linked'. The anchor of a group is its smallest node id (node ids are hashes: no order is implied).

    identifiers: relation (node_id, source, id_type, id_value, first_seen_at, last_seen_at), one row per
    (node, type, value) (a repeated row would count its record twice), one source per node.
    rules: relation (entity, id_type, priority, max_group_size, ...).
    blocklist: relation (entity, id_type, match_type 'exact'/'regex', pattern, reason); entity and id_type
    '*' apply to every entity and type.
    extra_blocked: optional SQL query (id_type, id_value, block_reason) of values blocked by a model (a
    store's own phone). -#}
{% macro identity_groups(entity, identifiers, rules, blocklist, extra_blocked=none) %}
    {{ return(adapter.dispatch('identity_groups', 'rsync_braze')(entity, identifiers, rules, blocklist, extra_blocked)) }}
{% endmacro %}

{% macro default__identity_groups(entity, identifiers, rules, blocklist, extra_blocked) %}
    {%- if entity is not string or not modules.re.match('^[a-z][a-z0-9_]*$', entity) -%}
        {{ exceptions.raise_compiler_error("identity_groups: entity must be a lower-case name (letters, digits, _), got " ~ entity) }}
    {%- endif -%}
    with

    identity_rules as (

        select * from {{ rules }} where entity = '{{ entity }}'

    ),

    {#- Counted in two hash aggregates (per source, then per group) instead of count(distinct ...), which
        PostgreSQL can only do by sorting: about twice as fast at a million records. -#}
    identity_group_sources as (

        select
            id_type,
            id_value,
            count(*) as record_count,
            min(node_id) as anchor_node_id,
            min(first_seen_at) as first_seen_at,
            max(last_seen_at) as last_seen_at
        from {{ identifiers }}
        group by id_type, id_value, source

    ),

    identity_groups as (

        select
            id_type,
            id_value,
            cast(sum(record_count) as bigint) as record_count,
            count(*) as source_count,
            min(anchor_node_id) as anchor_node_id,
            min(first_seen_at) as first_seen_at,
            max(last_seen_at) as last_seen_at
        from identity_group_sources
        group by id_type, id_value

    ),

    blocked_listed as (

        {{ rsync_braze.identity_blocked_values(entity, 'identity_groups', blocklist) | indent(8) }}

    ),

    blocked as (

        select id_type, id_value, min(block_reason) as block_reason
        from (
            select id_type, id_value, block_reason from blocked_listed
            {%- if extra_blocked is not none %}
            union all
            select id_type, id_value, block_reason from ({{ extra_blocked }}) extra_blocked
            {%- endif %}
        ) reasons
        group by id_type, id_value

    )

    select
        '{{ entity }}' as entity,
        g.id_type,
        g.id_value,
        g.record_count,
        g.source_count,
        g.anchor_node_id,
        g.first_seen_at,
        g.last_seen_at,
        r.priority,
        r.max_group_size,
        blocked.block_reason,
        case
            when r.id_type is null then 'no_rule'
            when blocked.block_reason is not null then 'blocked'
            when g.record_count > r.max_group_size then 'over_size_cap'
            when g.record_count = 1 then 'single'
            else 'linked'
        end as link_status
    from identity_groups g
    left join identity_rules r on r.id_type = g.id_type
    left join blocked on blocked.id_type = g.id_type and blocked.id_value = g.id_value
{% endmacro %}


{#- The values of `values` (a relation or CTE with id_type, id_value) that the blocklist blocks: one row
    (id_type, id_value, block_reason) per blocked value. Exact patterns compare case-sensitively; regex
    patterns match anywhere in the value unless anchored. -#}
{% macro identity_blocked_values(entity, values, blocklist) %}
    {{ return(adapter.dispatch('identity_blocked_values', 'rsync_braze')(entity, values, blocklist)) }}
{% endmacro %}

{% macro default__identity_blocked_values(entity, values, blocklist) %}
    {#- Patterns for '*' are first spelt out for each type present, so that values meet them through hash joins
        (exact: on type and value; regex: on type), in one pass each, instead of a nested loop that reads every
        value again for each pattern. -#}
    with

    blocklist_types as (

        select distinct id_type from {{ values }}

    ),

    blocklist_patterns as (

        select t.id_type, b.match_type, b.pattern, b.reason
        from {{ blocklist }} b
        inner join blocklist_types t on b.id_type in (t.id_type, '*')
        where b.entity in ('{{ entity }}', '*')

    ),

    blocklist_matches as (

        select v.id_type, v.id_value, p.reason
        from {{ values }} v
        inner join blocklist_patterns p
            on p.id_type = v.id_type
            and p.pattern = v.id_value
        where p.match_type = 'exact'

        union all

        select v.id_type, v.id_value, p.reason
        from {{ values }} v
        inner join blocklist_patterns p on p.id_type = v.id_type
        where p.match_type = 'regex'
          and {{ rsync_braze.identity_regex_matches('v.id_value', 'p.pattern') }}

    )

    select id_type, id_value, min(reason) as block_reason
    from blocklist_matches
    group by id_type, id_value
{% endmacro %}


{#- Star edges: one row (node_id, anchor_id, id_type, id_value, priority) per member of a linked group other
    than its anchor, k - 1 edges for a group of k records instead of k² pairs.

    identifiers: relation (node_id, id_type, id_value); groups: the output of identity_groups. A node holding
    one value twice gives a duplicate edge, which identity_connected_components removes. -#}
{% macro identity_star_edges(identifiers, groups) %}
    {{ return(adapter.dispatch('identity_star_edges', 'rsync_braze')(identifiers, groups)) }}
{% endmacro %}

{% macro default__identity_star_edges(identifiers, groups) %}
    select
        i.node_id,
        g.anchor_node_id as anchor_id,
        g.id_type,
        g.id_value,
        g.priority
    from {{ identifiers }} i
    inner join {{ groups }} g
        on g.id_type = i.id_type
        and g.id_value = i.id_value
    where g.link_status = 'linked'
      and i.node_id <> g.anchor_node_id
{% endmacro %}
