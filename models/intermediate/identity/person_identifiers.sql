{#- One row per (person, identifier type, value): every e-mail, phone, loyalty card, source id and compound
    key seen for the person, with its first and last sighting, how many of the person's records carry it, and
    whether the value links records (link_status of its group: linked, single, blocked, over_size_cap). -#}

with

identifiers as (

    select * from {{ ref('int_identity_identifiers') }}

),

record_persons as (

    select * from {{ ref('int_identity_record_persons') }}

),

groups as (

    select * from {{ ref('int_identity_groups') }}

),

per_person as (

    select
        record_persons.person_id,
        identifiers.id_type,
        identifiers.id_value,
        count(*) as record_count,
        count(distinct identifiers.source) as source_count,
        min(identifiers.first_seen_at) as first_seen_at,
        max(identifiers.last_seen_at) as last_seen_at
    from identifiers
    inner join record_persons on record_persons.node_id = identifiers.node_id
    group by record_persons.person_id, identifiers.id_type, identifiers.id_value

),

final as (

    select
        per_person.person_id,
        per_person.id_type,
        per_person.id_value,
        per_person.record_count,
        per_person.source_count,
        per_person.first_seen_at,
        per_person.last_seen_at,
        groups.link_status,
        groups.block_reason
    from per_person
    inner join groups
        on groups.id_type = per_person.id_type
        and groups.id_value = per_person.id_value

)

select * from final
