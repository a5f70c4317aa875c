{#- default_country is a compile-time literal, so each row is routed to a call compiled for its country;
    an empty default_country uses var('rsync_braze_default_country', 'FR'). -#}
{%- set countries = ['AT', 'BE', 'CA', 'CH', 'DE', 'DZ', 'ES', 'FR', 'GB', 'IE', 'IT', 'LU', 'MA', 'NL', 'PT', 'TN', 'US'] -%}

with

cases as (

    select
        {{ decode_seed_value('input') }} as input,
        default_country,
        expected,
        note
    from {{ ref('data_normalize_phone') }}

),

final as (

    select
        input,
        default_country,
        expected,
        case
            when default_country is null then {{ rsync_braze.normalize_phone('input') }}
            when default_country = 'fr' then {{ rsync_braze.normalize_phone('input', 'fr') }}
            {%- for country in countries %}
            when default_country = '{{ country }}' then {{ rsync_braze.normalize_phone('input', country) }}
            {%- endfor %}
        end as actual,
        note
    from cases

),

number_column as (

    {#- A phone column typed as a number (as a spreadsheet import leaves it): the leading 0 is gone. -#}
    select
        '612345678 (bigint)' as input,
        cast(null as {{ dbt.type_string() }}) as default_country,
        '+33612345678' as expected,
        {{ rsync_braze.normalize_phone('cast(612345678 as bigint)') }} as actual,
        'number column' as note

)

select * from final
union all
select * from number_column
