{#- One row per person id that no longer exists because its person merged into another: the retired id and
    the id that survived (the person holding most of its records). The sync reads it to delete or merge the
    stale profile in Braze. Kept across runs: the previous run's record → person map is snapshotted by the
    post-hook into identity_record_person_snapshot, and earlier retirements are carried over (re-pointed when
    their survivor retires in turn). An id that comes back (a split) is no longer retired. -#}

{{ config(post_hook="{{ rsync_braze.identity_snapshot_record_persons(ref('int_identity_record_persons')) }}") }}

{%- set snapshot = none -%}
{%- set previous_self = none -%}
{%- if execute -%}
    {%- set snapshot = adapter.get_relation(this.database, this.schema, 'identity_record_person_snapshot') -%}
    {%- set previous_self = adapter.get_relation(this.database, this.schema, this.identifier) -%}
{%- endif %}

with

current_persons as (

    select record_key, person_id from {{ ref('int_identity_record_persons') }}

),

current_ids as (

    select distinct person_id from current_persons

),

previous_persons as (

    {% if snapshot is not none -%}
    select record_key, person_id from {{ snapshot }}
    {%- else -%}
    select record_key, person_id from current_persons where 1 = 0
    {%- endif %}

),

earlier as (

    {% if previous_self is not none -%}
    select retired_person_id, person_id, retired_at from {{ previous_self }}
    {%- else -%}
    select
        cast(null as varchar) as retired_person_id,
        cast(null as varchar) as person_id,
        cast(null as timestamp with time zone) as retired_at
    where 1 = 0
    {%- endif %}

),

moved as (

    select
        previous_persons.person_id as retired_person_id,
        current_persons.person_id,
        count(*) as record_count
    from previous_persons
    inner join current_persons on current_persons.record_key = previous_persons.record_key
    where previous_persons.person_id <> current_persons.person_id
      and not exists (select 1 from current_ids where current_ids.person_id = previous_persons.person_id)
    group by previous_persons.person_id, current_persons.person_id

),

newly_retired as (

    select retired_person_id, person_id
    from (
        select
            retired_person_id,
            person_id,
            row_number() over (partition by retired_person_id order by record_count desc, person_id) as rank_in_id
        from moved
    ) ranked
    where rank_in_id = 1

),

carried as (

    select
        earlier.retired_person_id,
        coalesce(newly_retired.person_id, earlier.person_id) as person_id,
        earlier.retired_at
    from earlier
    left join newly_retired on newly_retired.retired_person_id = earlier.person_id
    where not exists (select 1 from newly_retired n where n.retired_person_id = earlier.retired_person_id)

),

final as (

    select retired_person_id, person_id, retired_at from carried
    where not exists (select 1 from current_ids where current_ids.person_id = carried.retired_person_id)

    union all

    select retired_person_id, person_id, current_timestamp as retired_at from newly_retired

)

select * from final
