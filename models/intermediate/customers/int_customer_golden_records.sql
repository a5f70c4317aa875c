{#- One row per person that has at least one person record: each field chosen among the person's records by
    its survivorship rule (seeds/identity/identity_survivorship.csv: source_priority, most_recent,
    most_frequent, most_complete), ignoring NULLs. -#}

{%- set rules = rsync_braze.identity_survivorship_rules('customers', ref('identity_survivorship')) %}

with

records as (

    select * from {{ ref('int_customer_records_matched') }}

),

with_frequencies as (

    select
        *
        {%- for rule in rules %},
        count(*) over (partition by person_id, {{ rule.field }}) as {{ rule.field }}__frequency
        {%- endfor %}
    from records

),

ranked as (

    select
        person_id,
        {%- for rule in rules %}
        first_value({{ rule.field }}) over (
            partition by person_id
            order by {{ rsync_braze.identity_survivorship_order(rule.field, rule.strategy, rule.order_column) }}
            rows between unbounded preceding and unbounded following
        ) as {{ rule.field }},
        {%- endfor %}
        row_number() over (partition by person_id order by record_key) as record_number
    from with_frequencies

),

final as (

    select
        person_id
        {%- for rule in rules %},
        {{ rule.field }}
        {%- endfor %}
    from ranked
    where record_number = 1

)

select * from final
