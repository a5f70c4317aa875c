{#- The audience synced to Braze: one row per person, with a stable external_id and each field taken from
    the most trusted source that has it (var rsync_braze_source_priority), then from the latest record. -#}

{%- set golden_fields = ['email', 'phone_e164', 'first_name', 'last_name', 'country_code', 'birth_date', 'postcode'] -%}

with

records as (

    select * from {{ ref('int_customer_records_matched') }}

),

ranked as (

    select
        person_id,
        {%- for field in golden_fields %}
        first_value({{ field }}) over (
            partition by person_id
            order by case when {{ field }} is null then 1 else 0 end, source_rank, updated_at desc, record_key
            rows between unbounded preceding and unbounded following
        ) as {{ field }},
        {%- endfor %}
        first_value(is_email_opted_in) over (
            partition by person_id
            order by case when is_email_opted_in is null then 1 else 0 end, email_opt_in_at desc, updated_at desc, record_key
            rows between unbounded preceding and unbounded following
        ) as is_email_opted_in,
        first_value(is_sms_opted_in) over (
            partition by person_id
            order by case when is_sms_opted_in is null then 1 else 0 end, sms_opt_in_at desc, updated_at desc, record_key
            rows between unbounded preceding and unbounded following
        ) as is_sms_opted_in,
        row_number() over (partition by person_id order by record_key) as record_number
    from records

),

golden as (

    select * from ranked where record_number = 1

),

per_person as (

    select
        person_id,
        count(*) as source_record_count,
        count(distinct source) as source_count,
        sum(case when source = 'crm' then 1 else 0 end) > 0 as has_crm_contact,
        sum(case when source = 'eshop' then 1 else 0 end) > 0 as has_eshop_account,
        sum(case when source = 'file' then 1 else 0 end) > 0 as has_file_contact,
        min(first_seen_at) as first_seen_at,
        max(updated_at) as updated_at
    from records
    group by person_id

),

final as (

    select
        golden.person_id as external_id,
        golden.email,
        golden.phone_e164 as phone,
        golden.first_name,
        golden.last_name,
        golden.country_code as country,
        golden.birth_date as dob,
        golden.postcode as home_postcode,
        case
            when golden.is_email_opted_in then 'opted_in'
            when not golden.is_email_opted_in then 'unsubscribed'
        end as email_subscribe,
        golden.is_sms_opted_in as is_sms_opted_in,
        per_person.source_record_count,
        per_person.source_count,
        per_person.has_crm_contact,
        per_person.has_eshop_account,
        per_person.has_file_contact,
        per_person.first_seen_at,
        per_person.updated_at
    from golden
    inner join per_person on golden.person_id = per_person.person_id

)

select * from final
