{#- The audience synced to Braze: one row per person with a person record (CRM, e-shop, file), with a stable
    external_id (the resolved person id), each field from the golden record (per-field survivorship), and the
    computed fields (orders, RFM, churn risk, web engagement, consent) named and typed as Braze custom
    attributes (docs/scores.md). -#}

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

order_metrics as (

    select * from {{ ref('int_person_order_metrics') }}

),

rfm as (

    select * from {{ ref('int_person_rfm') }}

),

churn as (

    select * from {{ ref('int_person_churn_risk') }}

),

engagement as (

    select * from {{ ref('int_person_engagement') }}

),

consent as (

    select * from {{ ref('int_person_consent') }}

),

{#- The latest segment change, when it led to the current segment. -#}
last_transitions as (

    select person_id, from_segment, to_segment, changed_at
    from (
        select
            *,
            row_number() over (partition by person_id order by changed_at desc) as latest
        from {{ ref('int_person_rfm_transitions') }}
    ) as ranked
    where latest = 1

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
            when consent.email_is_opted_in then 'opted_in'
            when not consent.email_is_opted_in then 'unsubscribed'
        end as email_subscribe,
        consent.email_consent_source,
        consent.email_consent_at,
        consent.sms_is_opted_in as is_sms_opted_in,
        consent.sms_consent_source,
        consent.sms_consent_at,
        coalesce(order_metrics.order_count, 0) as order_count,
        coalesce(order_metrics.refund_count, 0) as refund_count,
        cast(coalesce(order_metrics.revenue, 0) as double precision) as ltv,
        cast(order_metrics.average_basket as double precision) as average_basket,
        order_metrics.first_order_at,
        order_metrics.last_order_at,
        order_metrics.distinct_product_count,
        order_metrics.preferred_channel,
        order_metrics.favourite_store_name as favourite_store,
        order_metrics.favourite_category,
        rfm.r_score as rfm_recency_score,
        rfm.f_score as rfm_frequency_score,
        rfm.m_score as rfm_monetary_score,
        rfm.rfm_segment,
        case when last_transitions.to_segment = rfm.rfm_segment then last_transitions.from_segment end as previous_rfm_segment,
        case when last_transitions.to_segment = rfm.rfm_segment then last_transitions.changed_at end as rfm_segment_changed_at,
        cast(churn.churn_risk as double precision) as churn_risk,
        coalesce(engagement.sessions_in_window, 0) as sessions_30d,
        coalesce(engagement.events_in_window, 0) as web_events_30d,
        engagement.last_seen_at,
        string_to_array(engagement.top_event_types, ',') as top_event_types,
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
    left join order_metrics on order_metrics.person_id = golden.person_id
    left join rfm on rfm.person_id = golden.person_id
    left join last_transitions on last_transitions.person_id = golden.person_id
    left join churn on churn.person_id = golden.person_id
    left join engagement on engagement.person_id = golden.person_id
    left join consent on consent.person_id = golden.person_id

)

select * from final
