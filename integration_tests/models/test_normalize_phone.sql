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

)

select * from final
