{#- First unification: records that share a usable normalized email are one person. A placeholder email
    (blocked pattern) or one shared by more records than rsync_braze_max_records_per_email makes no link.
    The multi-key, transitive resolution (email, phone, loyalty card...) replaces this step. -#}

{%- set blocked = var('rsync_braze_blocked_email_patterns') -%}
{%- set max_group = var('rsync_braze_max_records_per_email') -%}

with

records as (

    select * from {{ ref('int_customer_records_unioned') }}

),

email_groups as (

    select
        email,
        count(*) as record_count
    from records
    where email is not null
    group by email

),

usable_emails as (

    select email
    from email_groups
    where record_count <= {{ max_group }}
    {%- for pattern in blocked %}
        and email not like '{{ pattern }}'
    {%- endfor %}

),

keyed as (

    select
        records.*,
        case
            when usable_emails.email is not null then 'email:' || usable_emails.email
            else 'record:' || records.record_key
        end as match_key
    from records
    left join usable_emails on records.email = usable_emails.email

),

anchored as (

    select
        *,
        first_value(record_key) over (
            partition by match_key
            order by first_seen_at, source_rank, record_key
            rows between unbounded preceding and unbounded following
        ) as anchor_record_key
    from keyed

),

final as (

    select
        md5('person:' || anchor_record_key) as person_id,
        anchor_record_key,
        record_key,
        source,
        record_id,
        match_key,
        email,
        phone_e164,
        loyalty_card,
        first_name,
        last_name,
        country_code,
        birth_date,
        postcode,
        is_email_opted_in,
        email_opt_in_at,
        is_sms_opted_in,
        sms_opt_in_at,
        first_seen_at,
        updated_at,
        source_rank
    from anchored

)

select * from final
