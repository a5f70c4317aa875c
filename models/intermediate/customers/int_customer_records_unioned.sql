{#- Every record that describes a person, from every source, in one shape (webhook, Salesforce and Zendesk
    records only when their vars turn them on). POS receipts and web events
    are behaviour, not person records: they attach to persons through their keys downstream. -#}

with

eshop_customers as (

    select * from {{ ref('stg_eshop__customers') }}

),

crm_contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

file_contacts as (

    select * from {{ ref('stg_files__contacts') }}

),
{#- Records pushed by webhooks (rsync-braze ingest serve), once the project turns them on: a pushed event that
    names a person (e-mail or phone) is a record of that person, like a contact form. #}
{%- if var('rsync_braze_hooks_enabled', false) %}

hook_events as (

    select * from {{ ref('stg_hooks__customer_events') }}
    where email is not null or phone_e164 is not null

),
{%- endif %}
{#- CRM and helpdesk sources landed by `rsync-braze ingest` (type salesforce / zendesk), once turned on: their
    people join the others through the same identifiers (an e-mail shared with an e-shop account makes one
    person). Deleted records are left out; so are Zendesk agents and admins (staff, not customers). #}
{%- if var('rsync_braze_salesforce_enabled', false) %}

salesforce_contacts as (

    select * from {{ ref('stg_salesforce__contacts') }}
    where not is_deleted

),
{%- endif %}
{%- if var('rsync_braze_zendesk_enabled', false) %}

zendesk_users as (

    select * from {{ ref('stg_zendesk__users') }}
    where not is_deleted and coalesce(role, 'end-user') = 'end-user'

),
{%- endif %}

unioned as (

    select
        'crm' as source,
        contact_id as record_id,
        email,
        phone_e164,
        loyalty_card,
        first_name,
        last_name,
        cast(null as varchar) as country_code,
        birth_date,
        postcode,
        is_email_opted_in,
        email_opt_in_at,
        is_sms_opted_in,
        sms_opt_in_at,
        created_at as first_seen_at,
        updated_at
    from crm_contacts

    union all

    select
        'eshop' as source,
        customer_id as record_id,
        email,
        phone_e164,
        cast(null as varchar) as loyalty_card,
        first_name,
        last_name,
        country_code,
        birth_date,
        postcode,
        cast(null as boolean) as is_email_opted_in,
        cast(null as timestamp with time zone) as email_opt_in_at,
        cast(null as boolean) as is_sms_opted_in,
        cast(null as timestamp with time zone) as sms_opt_in_at,
        created_at as first_seen_at,
        updated_at
    from eshop_customers

    union all

    select
        'file' as source,
        file_contact_id as record_id,
        email,
        phone_e164,
        cast(null as varchar) as loyalty_card,
        first_name,
        last_name,
        country_code,
        cast(null as date) as birth_date,
        cast(null as varchar) as postcode,
        cast(null as boolean) as is_email_opted_in,
        cast(null as timestamp with time zone) as email_opt_in_at,
        cast(null as boolean) as is_sms_opted_in,
        cast(null as timestamp with time zone) as sms_opt_in_at,
        coalesce(cast(signed_up_on as timestamp with time zone), loaded_at) as first_seen_at,
        loaded_at as updated_at
    from file_contacts
    {%- if var('rsync_braze_hooks_enabled', false) %}

    union all

    select
        'hooks' as source,
        hook_event_id as record_id,
        email,
        phone_e164,
        cast(null as varchar) as loyalty_card,
        first_name,
        last_name,
        cast(null as varchar) as country_code,
        cast(null as date) as birth_date,
        cast(null as varchar) as postcode,
        {#- A newsletter sign-up pushed by the shop is an e-mail opt-in at the time it happened. #}
        case when event_type = 'newsletter_signup' then true end as is_email_opted_in,
        case when event_type = 'newsletter_signup' then occurred_at end as email_opt_in_at,
        cast(null as boolean) as is_sms_opted_in,
        cast(null as timestamp with time zone) as sms_opt_in_at,
        coalesce(occurred_at, received_at) as first_seen_at,
        received_at as updated_at
    from hook_events
    {%- endif %}
    {%- if var('rsync_braze_salesforce_enabled', false) %}

    union all

    select
        'salesforce' as source,
        salesforce_contact_id as record_id,
        email,
        phone_e164,
        cast(null as varchar) as loyalty_card,
        first_name,
        last_name,
        cast(null as varchar) as country_code,
        cast(null as date) as birth_date,
        postcode,
        cast(null as boolean) as is_email_opted_in,
        cast(null as timestamp with time zone) as email_opt_in_at,
        cast(null as boolean) as is_sms_opted_in,
        cast(null as timestamp with time zone) as sms_opt_in_at,
        coalesce(created_at, loaded_at) as first_seen_at,
        coalesce(modified_at, loaded_at) as updated_at
    from salesforce_contacts
    {%- endif %}
    {%- if var('rsync_braze_zendesk_enabled', false) %}

    union all

    select
        'zendesk' as source,
        zendesk_user_id as record_id,
        email,
        phone_e164,
        cast(null as varchar) as loyalty_card,
        {#- Zendesk keeps one name: its first word as the first name, the rest as the last name. #}
        nullif(split_part(full_name, ' ', 1), '') as first_name,
        nullif(trim(substr(full_name, length(split_part(full_name, ' ', 1)) + 1)), '') as last_name,
        cast(null as varchar) as country_code,
        cast(null as date) as birth_date,
        cast(null as varchar) as postcode,
        cast(null as boolean) as is_email_opted_in,
        cast(null as timestamp with time zone) as email_opt_in_at,
        cast(null as boolean) as is_sms_opted_in,
        cast(null as timestamp with time zone) as sms_opt_in_at,
        coalesce(created_at, loaded_at) as first_seen_at,
        coalesce(modified_at, loaded_at) as updated_at
    from zendesk_users
    {%- endif %}

),

final as (

    select
        source || ':' || record_id as record_key,
        *,
        {{ rsync_braze.source_rank('source') }} as source_rank
    from unioned

)

select * from final
