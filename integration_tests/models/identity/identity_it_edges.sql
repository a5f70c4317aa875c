{#- One row per star edge of the cases' linked groups (identity_star_edges). -#}

{{ config(materialized='table') }}

with

final as (

    {{ rsync_braze.identity_star_edges(ref('identity_it_identifiers'), ref('identity_it_groups')) | indent(4) }}

)

select * from final
