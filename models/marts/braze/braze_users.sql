{#- The audience synced to Braze: one row per person with a person record (CRM, e-shop, file), with a stable
    external_id (the resolved person id) and each field from the golden record (per-field survivorship). -#}

with

golden as (

    select * from {{ ref('int_customer_golden_records') }}

),

records as (

    select * from {{ ref('int_customer_records_matched') }}

),

record_persons as (

    select * from {{ ref('int_identity_record_persons') }}

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

{#- Till receipts attached to the person through a loyalty card or a phone. -#}
receipts as (

    select
        person_id,
        sum(record_count) as pos_receipt_count,
        max(updated_at) as last_receipt_at
    from record_persons
    where source = 'pos'
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
        golden.is_sms_opted_in,
        per_person.source_record_count,
        per_person.source_count,
        per_person.has_crm_contact,
        per_person.has_eshop_account,
        per_person.has_file_contact,
        coalesce(receipts.pos_receipt_count, 0) as pos_receipt_count,
        receipts.last_receipt_at,
        per_person.first_seen_at,
        per_person.updated_at
    from golden
    inner join per_person on per_person.person_id = golden.person_id
    left join receipts on receipts.person_id = golden.person_id

)

select * from final
