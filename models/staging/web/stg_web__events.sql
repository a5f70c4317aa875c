with

source as (

    select * from {{ source('web', 'events') }}

),

renamed as (

    select
        payload ->> 'event_id' as event_id,
        payload ->> 'anonymous_id' as anonymous_id,
        nullif(trim(payload ->> 'customer_id'), '') as customer_id,
        {{ rsync_braze.normalize_email("payload ->> 'email'") }} as email,
        lower(payload ->> 'event_type') as event_type,
        cast(payload ->> 'occurred_at' as timestamp with time zone) as occurred_at,
        payload -> 'properties' as properties,
        _file_name as file_name,
        _line_number as line_number,
        _loaded_at as loaded_at

    from source

)

select * from renamed
