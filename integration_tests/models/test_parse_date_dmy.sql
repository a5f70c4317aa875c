with

cases as (

    select
        {{ decode_seed_value('input') }} as input,
        expected,
        note
    from {{ ref('data_parse_date_dmy') }}

),

final as (

    select
        input,
        expected,
        cast({{ rsync_braze.parse_date_dmy('input') }} as varchar) as actual,
        note
    from cases

)

select * from final
