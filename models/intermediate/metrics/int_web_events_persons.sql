{#- One row per web event attached to a person: through the e-shop account of a logged-in visitor, else the
    e-mail of a newsletter signup (only an e-mail that links to one person: placeholders and over-shared
    addresses are blocked by identity resolution), else the browser's anonymous id, given to the person of
    the latest identified event of that browser. Events of browsers never identified stay out. -#}

with

events as (

    select * from {{ ref('stg_web__events') }}

),

record_persons as (

    select * from {{ ref('int_identity_record_persons') }}

),

person_identifiers as (

    select * from {{ ref('person_identifiers') }}

),

eshop_accounts as (

    select record_id as customer_id, person_id
    from record_persons
    where source = 'eshop'

),

emails as (

    select id_value as email, min(person_id) as person_id
    from person_identifiers
    where id_type = 'email'
        and link_status in ('linked', 'single')
    group by id_value
    having count(distinct person_id) = 1

),

identified as (

    select
        events.*,
        coalesce(eshop_accounts.person_id, emails.person_id) as identified_person_id,
        case
            when eshop_accounts.person_id is not null then 'customer_id'
            when emails.person_id is not null then 'email'
        end as identified_by
    from events
    left join eshop_accounts on eshop_accounts.customer_id = events.customer_id
    left join emails on emails.email = events.email

),

browsers as (

    select anonymous_id, person_id
    from (
        select
            anonymous_id,
            identified_person_id as person_id,
            row_number() over (partition by anonymous_id order by occurred_at desc, event_id) as latest
        from identified
        where identified_person_id is not null
            and anonymous_id is not null
    ) as ranked
    where latest = 1

),

final as (

    select
        coalesce(identified.identified_person_id, browsers.person_id) as person_id,
        coalesce(identified.identified_by, 'anonymous_id') as attached_by,
        identified.event_id,
        identified.anonymous_id,
        identified.event_type,
        identified.occurred_at,
        identified.properties
    from identified
    left join browsers on browsers.anonymous_id = identified.anonymous_id
    where coalesce(identified.identified_person_id, browsers.person_id) is not null

)

select * from final
