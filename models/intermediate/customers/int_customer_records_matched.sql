{#- One row per person record (CRM contact, e-shop account, file contact) with the person it belongs to, as
    resolved over every identifier type, transitively (models/intermediate/identity). -#}

with

records as (

    select * from {{ ref('int_customer_records_unioned') }}

),

record_persons as (

    select * from {{ ref('int_identity_record_persons') }}

),

final as (

    select
        record_persons.person_id,
        record_persons.anchor_record_key,
        record_persons.cluster_id,
        records.record_key,
        records.source,
        records.record_id,
        records.email,
        records.phone_e164,
        records.loyalty_card,
        records.first_name,
        records.last_name,
        records.country_code,
        records.birth_date,
        records.postcode,
        records.is_email_opted_in,
        records.email_opt_in_at,
        records.is_sms_opted_in,
        records.sms_opt_in_at,
        records.first_seen_at,
        records.updated_at,
        records.source_rank
    from records
    inner join record_persons on record_persons.record_key = records.record_key

)

select * from final
