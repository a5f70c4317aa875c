with

cases as (

    select
        {{ decode_seed_value('input') }} as input,
        expected,
        note
    from {{ ref('data_source_rank') }}

),

final as (

    select
        input,
        expected,
        cast({{ rsync_braze.source_rank('input') }} as varchar) as actual,
        note
    from cases

)

select * from final
