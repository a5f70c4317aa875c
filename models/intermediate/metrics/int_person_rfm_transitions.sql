{#- One row per change of a person's RFM segment seen by the snapshot rfm_segment_history: from which segment
    to which, and when the build that saw it ran. "Who moved from loyal to at_risk this week" is a filter on
    this table. -#}

with

history as (

    select * from {{ ref('rfm_segment_history') }}

),

versions as (

    select
        person_id,
        rfm_segment,
        dbt_valid_from,
        lag(rfm_segment) over (partition by person_id order by dbt_valid_from) as previous_segment,
        row_number() over (partition by person_id order by dbt_valid_from) as version_number
    from history

),

final as (

    select
        person_id,
        previous_segment as from_segment,
        rfm_segment as to_segment,
        dbt_valid_from as changed_at
    from versions
    where version_number > 1
        and previous_segment is distinct from rfm_segment

)

select * from final
