with

source as (

    select * from {{ source('pos', 'transactions') }}

),

renamed as (

    select
        transaction_id,
        store_id,
        nullif(upper(replace(trim(loyalty_card), ' ', '')), '') as loyalty_card,
        {{ rsync_braze.normalize_phone('phone') }} as phone_e164,
        transacted_at,
        upper(trim(currency)) as currency,
        cast(total_amount as numeric(12, 2)) as total_amount,
        coalesce(is_refund, false) as is_refund,
        {#- The sale a refund receipt refunds, when the till scanned its receipt (NULL otherwise). #}
        case when is_refund then nullif(trim(original_transaction_id), '') end as original_transaction_id

    from source

)

select * from renamed
