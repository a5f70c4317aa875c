{#- rfm_scores with 5 buckets and the segment mapping (a copy of the package's seeds/metrics/rfm_segments.csv,
    kept equal by tests/test_scores_macros.py), then r_score again with 3 buckets; one row per person,
    actual = 'r|f|m|fm|cell|segment|r with 3 buckets'. -#}

with

people as (

    select * from {{ ref('data_rfm_scores') }}

),

five as (

    {{ rsync_braze.rfm_scores('people', recency='recency', frequency='frequency', monetary='monetary', segments=ref('data_rfm_segments')) }}

),

three as (

    {{ rsync_braze.rfm_scores('people', recency='recency', frequency='frequency', monetary='monetary', buckets=3) }}

),

final as (

    select
        people.person_id,
        people.expected,
        coalesce(cast(five.r_score as varchar), 'null')
            || '|' || coalesce(cast(five.f_score as varchar), 'null')
            || '|' || coalesce(cast(five.m_score as varchar), 'null')
            || '|' || coalesce(cast(five.fm_score as varchar), 'null')
            || '|' || coalesce(five.rfm_cell, 'null')
            || '|' || coalesce(five.rfm_segment, 'null')
            || '|' || coalesce(cast(three.r_score as varchar), 'null') as actual,
        people.note
    from people
    left join five on five.person_id = people.person_id
    left join three on three.person_id = people.person_id

)

select * from final
