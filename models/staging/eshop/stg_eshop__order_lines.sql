with

source as (

    select * from {{ source('eshop', 'order_lines') }}

),

renamed as (

    select
        order_id || '-' || cast(line_number as varchar) as order_line_id,
        order_id,
        line_number,
        product_id,
        lower(trim(category)) as product_category,
        quantity,
        cast(unit_price as numeric(12, 2)) as unit_price,
        cast(quantity * unit_price as numeric(12, 2)) as line_amount

    from source

)

select * from renamed
