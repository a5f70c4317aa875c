{#- Generic data tests of identity resolution. Each returns one row per violation, so dbt fails the test
    and says how many. -#}


{#- The model holds star edges (node, anchor): fails on every edge whose two ends belong to different persons
    (or whose end has no person), i.e. a link the connected components did not follow. Edges of groups listed
    in `dropped` (id_type, id_value: links dropped to honour a limit per person) are exempt. -#}
{% test identity_edges_within_one_person(model, persons, node_column='node_id', anchor_column='anchor_id',
                                         person_node_column='node_id', person_column='person_id', dropped=none) %}

select
    e.{{ node_column }} as node_id,
    e.{{ anchor_column }} as anchor_id,
    node_person.{{ person_column }} as node_person,
    anchor_person.{{ person_column }} as anchor_person
from {{ model }} e
left join {{ persons }} node_person on node_person.{{ person_node_column }} = e.{{ node_column }}
left join {{ persons }} anchor_person on anchor_person.{{ person_node_column }} = e.{{ anchor_column }}
where (node_person.{{ person_column }} is null
       or anchor_person.{{ person_column }} is null
       or node_person.{{ person_column }} <> anchor_person.{{ person_column }})
{%- if dropped is not none %}
  and not exists (
      select 1 from {{ dropped }} d where d.id_type = e.id_type and d.id_value = e.id_value
  )
{%- endif %}

{% endtest %}


{#- Fails on every person made of more rows (graph records) of the model than max_size, by default
    var('rsync_braze_identity_max_cluster_size'): a cluster that big is almost always a junk identifier the
    blocklist or the group-size caps missed (see identity_skipped_groups and person_identifiers). -#}
{% test identity_cluster_size_at_most(model, person_column='person_id', max_size=none) %}

{%- set limit = max_size if max_size is not none else var('rsync_braze_identity_max_cluster_size', 200) -%}
{%- if limit is not number or limit < 1 -%}
    {{ exceptions.raise_compiler_error("identity_cluster_size_at_most: max_size (or var rsync_braze_identity_max_cluster_size) must be a positive integer, got " ~ limit) }}
{%- endif %}

select {{ person_column }} as person_id, count(*) as cluster_size, {{ limit }} as max_size
from {{ model }}
group by {{ person_column }}
having count(*) > {{ limit }}

{% endtest %}


{#- The model holds (person, id_type, id_value) rows (person_identifiers): fails on every person holding more
    distinct values of an identifier type than the rule's max_per_person allows (two CRM contacts when the
    limit is one). -#}
{% test identity_limits_per_person(model, rules, entity, person_column='person_id') %}

select
    i.{{ person_column }} as person_id,
    i.id_type,
    count(distinct i.id_value) as value_count,
    max(r.max_per_person) as max_per_person
from {{ model }} i
inner join {{ rules }} r on r.id_type = i.id_type and r.entity = '{{ entity }}'
where r.max_per_person is not null
group by i.{{ person_column }}, i.id_type
having count(distinct i.id_value) > max(r.max_per_person)

{% endtest %}
