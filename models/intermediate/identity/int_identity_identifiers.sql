{#- One row per (record, identifier type, normalized value) of the customers' graph, from the identifier
    types configured in var('rsync_braze_identity_identifiers').customers (compound keys included). -#}

with

records as (

    select * from {{ ref('int_identity_records') }}

),

identifiers as (

    {{ rsync_braze.identity_identifiers('customers', 'records') }}

),

final as (

    select
        'customers' as entity,
        *
    from identifiers

)

select * from final
