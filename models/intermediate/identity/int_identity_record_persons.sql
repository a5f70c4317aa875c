{#- One row per node of the customers' graph with its person. The person id is the md5 of the cluster's
    anchor record (earliest first seen, then the most trusted source, then the record key), so it survives
    re-runs and new data as long as that record stays in the person. -#}

with

records as (

    select * from {{ ref('int_identity_records') }}

),

clusters as (

    select * from {{ ref('int_identity_clusters') }}

),

anchored as (

    select
        clusters.cluster_id,
        records.*,
        first_value(records.record_key) over (
            partition by clusters.cluster_id
            order by records.first_seen_at, records.source_rank, records.record_key
            rows between unbounded preceding and unbounded following
        ) as anchor_record_key
    from records
    inner join clusters on clusters.node_id = records.node_id

),

final as (

    select
        md5('person:' || anchor_record_key) as person_id,
        anchor_record_key,
        cluster_id,
        node_id,
        record_key,
        source,
        record_id,
        record_count,
        first_seen_at,
        updated_at
    from anchored

)

select * from final
