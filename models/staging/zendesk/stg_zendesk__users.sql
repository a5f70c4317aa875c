{{ config(enabled=var('rsync_braze_zendesk_enabled', false)) }}

{#- Zendesk users landed by a `type: zendesk, resource: users` source (docs/sources.md). `name` is one field in
    Zendesk: kept whole (normalized), not split into first and last names. -#}

with

source as (

    select * from {{ source('zendesk', 'users') }}

),

renamed as (

    select
        _id as zendesk_user_id,
        {{ rsync_braze.normalize_email("payload ->> 'email'") }} as email,
        {{ rsync_braze.normalize_phone("payload ->> 'phone'") }} as phone_e164,
        {{ rsync_braze.normalize_name("payload ->> 'name'") }} as full_name,
        nullif(trim(payload ->> 'external_id'), '') as external_id,
        payload ->> 'role' as role,
        cast(payload ->> 'created_at' as timestamp with time zone) as created_at,
        _modified_at as modified_at,
        _deleted as is_deleted,
        _loaded_at as loaded_at

    from source

)

select * from renamed
