{#- One row per person size (number of graph records in the person): how many persons have it and how many
    records they hold. Monitoring: watch the largest sizes over time; a jump means a junk identifier. -#}

with

record_persons as (

    select * from {{ ref('int_identity_record_persons') }}

),

persons as (

    select person_id, count(*) as cluster_size, count(distinct source) as source_count
    from record_persons
    group by person_id

),

final as (

    select
        'customers' as entity,
        cluster_size,
        count(*) as person_count,
        sum(cluster_size) as record_count,
        max(source_count) as max_source_count
    from persons
    group by cluster_size

)

select * from final
