{#- One row per identifier group whose links were dropped because the cluster they made broke a limit per
    person (e.g. two CRM contacts); the weakest identifier type of the cluster loses its links first. -#}

-- depends_on: {{ ref('int_identity_clusters') }}
{%- set drops = ref('int_identity_clusters').incorporate(path={"identifier": "int_identity_clusters__components__limit_drops"}) %}

with

drops as (

    select * from {{ drops }}

),

final as (

    select
        'customers' as entity,
        pass_number,
        id_type,
        id_value,
        priority
    from drops

)

select * from final
