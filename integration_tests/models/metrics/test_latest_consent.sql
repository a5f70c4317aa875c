{#- latest_consent over email and sms; actual = 'email opted in|source|at|sms opted in|source|at'. -#}

with

statements as (

    select * from {{ ref('data_latest_consent') }}

),

consolidated as (

    {{ rsync_braze.latest_consent('statements') }}

),

actual as (

    select
        person_id,
        coalesce(cast(email_is_opted_in as varchar), 'null')
            || '|' || coalesce(email_consent_source, 'null')
            || '|' || coalesce(cast(email_consent_at as varchar), 'null')
            || '|' || coalesce(cast(sms_is_opted_in as varchar), 'null')
            || '|' || coalesce(sms_consent_source, 'null')
            || '|' || coalesce(cast(sms_consent_at as varchar), 'null') as actual
    from consolidated

),

final as (

    {{ join_expected('actual', ref('data_latest_consent_expected')) }}

)

select * from final
