with

cases as (

    select
        {{ decode_seed_value('input') }} as input,
        expected,
        note
    from {{ ref('data_normalize_country') }}

),

final as (

    select
        input,
        expected,
        {{ rsync_braze.normalize_country('input') }} as actual,
        note
    from cases

)

select * from final
