with

source as (

    select * from {{ source('eshop', 'customers') }}

),

renamed as (

    select
        customer_id,
        {{ rsync_braze.normalize_email('email') }} as email,
        {{ rsync_braze.normalize_phone('phone') }} as phone_e164,
        {{ rsync_braze.normalize_name('first_name') }} as first_name,
        {{ rsync_braze.normalize_name('last_name') }} as last_name,
        {{ rsync_braze.normalize_country('country') }} as country_code,
        birth_date,
        nullif(upper(replace(trim(postcode), ' ', '')), '') as postcode,
        created_at,
        updated_at

    from source

)

select * from renamed
