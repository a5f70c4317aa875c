with

source as (

    select * from {{ source('pos', 'stores') }}

),

renamed as (

    select
        store_id,
        trim(store_name) as store_name,
        trim(city) as city,
        {{ rsync_braze.normalize_country('country') }} as country_code,
        {{ rsync_braze.normalize_phone('phone') }} as phone_e164

    from source

)

select * from renamed
