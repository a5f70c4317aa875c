{#- One row per person with a consent statement: for e-mail and SMS, the most recent opt-in or opt-out across
    sources (CRM contacts' opt-in flags with their time, and newsletter signups on the web, which opt the
    e-mail in), with its source and time. -#}

with

crm_contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

record_persons as (

    select * from {{ ref('int_identity_record_persons') }}

),

web_events as (

    select * from {{ ref('int_web_events_persons') }}

),

crm_statements as (

    select
        record_persons.person_id,
        crm_contacts.is_email_opted_in,
        crm_contacts.email_opt_in_at,
        crm_contacts.is_sms_opted_in,
        crm_contacts.sms_opt_in_at
    from crm_contacts
    inner join record_persons
        on record_persons.source = 'crm'
        and record_persons.record_id = crm_contacts.contact_id

),

statements as (

    select person_id, 'email' as channel, is_email_opted_in as is_opted_in, email_opt_in_at as consented_at, 'crm' as source
    from crm_statements

    union all

    select person_id, 'sms' as channel, is_sms_opted_in as is_opted_in, sms_opt_in_at as consented_at, 'crm' as source
    from crm_statements

    union all

    select person_id, 'email' as channel, true as is_opted_in, occurred_at as consented_at, 'web' as source
    from web_events
    where event_type = 'newsletter_signup'

),

consolidated as (

    {{ rsync_braze.latest_consent('statements', channels=['email', 'sms']) | indent(4) }}

)

select * from consolidated
