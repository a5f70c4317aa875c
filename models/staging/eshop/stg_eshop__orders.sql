with

source as (

    select * from {{ source('eshop', 'orders') }}

),

renamed as (

    select
        order_id,
        customer_id,
        ordered_at,
        lower(trim(status)) as order_status,
        lower(trim(status)) = 'refunded' as is_refunded,
        upper(trim(currency)) as currency,
        cast(total_amount as numeric(12, 2)) as total_amount,
        updated_at

    from source

)

select * from renamed
