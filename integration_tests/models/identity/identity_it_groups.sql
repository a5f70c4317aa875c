{#- One row per identifier group of the cases with its verdict (identity_groups, rules and blocklist seeds of
    the test entity 'people'). -#}

{{ config(materialized='table') }}

with

final as (

    {{ rsync_braze.identity_groups('people', ref('identity_it_identifiers'), ref('data_identity_rules'), ref('data_identity_blocked_values')) | indent(4) }}

)

select * from final
