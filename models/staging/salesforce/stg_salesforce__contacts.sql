{{ config(enabled=var('rsync_braze_salesforce_enabled', false)) }}

{#- Salesforce Contacts landed by a `type: salesforce, object: Contact` source (docs/sources.md). Fields the
    source does not read are null here. -#}

with

source as (

    select * from {{ source('salesforce', 'contacts') }}

),

renamed as (

    select
        _id as salesforce_contact_id,
        {{ rsync_braze.normalize_email("payload ->> 'Email'") }} as email,
        {{ rsync_braze.normalize_phone("coalesce(payload ->> 'Phone', payload ->> 'MobilePhone')") }} as phone_e164,
        {{ rsync_braze.normalize_name("payload ->> 'FirstName'") }} as first_name,
        {{ rsync_braze.normalize_name("payload ->> 'LastName'") }} as last_name,
        nullif(upper(replace(trim(payload ->> 'MailingPostalCode'), ' ', '')), '') as postcode,
        payload ->> 'AccountId' as salesforce_account_id,
        cast(payload ->> 'CreatedDate' as timestamp with time zone) as created_at,
        _modified_at as modified_at,
        _deleted as is_deleted,
        _loaded_at as loaded_at

    from source

)

select * from renamed
