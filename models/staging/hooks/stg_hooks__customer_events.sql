{{ config(enabled=var('rsync_braze_hooks_enabled', false)) }}

{#- Customer events pushed by a webhook source. The payload contract (documented in docs/sources.md):
    event_id, type, occurred_at, and the person's keys email, phone, customer_id, first_name, last_name;
    anything else stays in `properties`. -#}

with

source as (

    select * from {{ source('hooks', 'customer_events') }}

),

renamed as (

    select
        coalesce(payload ->> 'event_id', _idempotency_key, cast(_id as varchar)) as hook_event_id,
        lower(payload ->> 'type') as event_type,
        cast(payload ->> 'occurred_at' as timestamp with time zone) as occurred_at,
        nullif(trim(payload ->> 'customer_id'), '') as customer_id,
        {{ rsync_braze.normalize_email("payload ->> 'email'") }} as email,
        {{ rsync_braze.normalize_phone("payload ->> 'phone'") }} as phone_e164,
        {{ rsync_braze.normalize_name("payload ->> 'first_name'") }} as first_name,
        {{ rsync_braze.normalize_name("payload ->> 'last_name'") }} as last_name,
        payload as properties,
        _received_at as received_at

    from source

)

select * from renamed
