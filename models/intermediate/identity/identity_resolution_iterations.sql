{#- One row per iteration of the last identity resolution: pass (a new pass follows each drop of links that
    broke a limit per person), iteration, edges still joining two clusters afterwards, nodes set aside as
    final. Monitoring: the count of iterations should stay small (3 to 10); a rise means deep chains. -#}

-- depends_on: {{ ref('int_identity_clusters') }}
{%- set log_table = ref('int_identity_clusters').incorporate(path={"identifier": "int_identity_clusters__components__iterations"}) %}

with

iterations as (

    select * from {{ log_table }}

),

final as (

    select
        'customers' as entity,
        pass_number,
        iteration,
        edges_remaining,
        nodes_set_aside
    from iterations

)

select * from final
