with

source as (

    select * from {{ source('crm', 'contacts') }}

),

renamed as (

    select
        contact_id,
        {{ rsync_braze.normalize_email('email') }} as email,
        {{ rsync_braze.normalize_phone('phone') }} as phone_e164,
        {{ rsync_braze.normalize_name('first_name') }} as first_name,
        {{ rsync_braze.normalize_name('last_name') }} as last_name,
        nullif(upper(replace(trim(postcode), ' ', '')), '') as postcode,
        birth_date,
        nullif(upper(replace(trim(loyalty_card), ' ', '')), '') as loyalty_card,
        email_opt_in as is_email_opted_in,
        email_opt_in_at,
        sms_opt_in as is_sms_opted_in,
        sms_opt_in_at,
        created_at,
        updated_at

    from source

)

select * from renamed
