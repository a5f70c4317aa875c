with

source as (

    select * from {{ source('files', 'contacts') }}

),

renamed as (

    select
        _file_name || ':' || cast(_line_number as varchar) as file_contact_id,
        {{ rsync_braze.normalize_email('email') }} as email,
        {{ rsync_braze.normalize_phone('phone') }} as phone_e164,
        {{ rsync_braze.normalize_name('first_name') }} as first_name,
        {{ rsync_braze.normalize_name('last_name') }} as last_name,
        {{ rsync_braze.normalize_country('country') }} as country_code,
        {{ rsync_braze.parse_date_dmy('signup_date') }} as signed_up_on,
        _file_name as file_name,
        _line_number as line_number,
        _loaded_at as loaded_at

    from source

)

select * from renamed
