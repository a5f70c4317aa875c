with

cases as (

    select
        {{ decode_seed_value('input') }} as input,
        expected,
        note
    from {{ ref('data_normalize_email') }}

),

final as (

    select
        input,
        expected,
        {{ rsync_braze.normalize_email('input') }} as actual,
        note
    from cases

)

select * from final
