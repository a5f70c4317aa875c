{% macro normalize_phone(column, default_country=none) %}
    {{ return(adapter.dispatch('normalize_phone', 'rsync_braze')(column, default_country)) }}
{% endmacro %}

{#- A phone number in E.164 (+33612345678), or NULL when it is not a valid one.

    Separators are dropped (white space, . - / and parentheses), and so is the "(0)" of "+33 (0)6 ...".
    Then, by the way the number is written:
      +CC... or 00CC...   international: when CC is in _phone_countries() the national significant number
                          (NSN) must match that country's pattern (a trunk 0 wrongly kept after the code,
                          +33 06 ..., is dropped); any other CC is accepted with 8 to 15 digits in all.
      trunk prefix first  national, in default_country (06 12 34 56 78 in FR; 1 415 555 2671 in US).
      anything else       the NSN of default_country without its trunk prefix (4155552671 in US, 612345678
                          in FR as a spreadsheet leaves it), or its country code without the + (33612345678).
    NULL when letters or other characters remain, when the digits do not fit, and when the NSN is a
    single repeated digit (0000000000, +33 6 66 66 66 66).
    default_country is a literal ISO alpha-2 code known to _phone_countries(), fixed at compile time. -#}
{% macro default__normalize_phone(column, default_country) %}
    {%- do rsync_braze._check_expression('normalize_phone', column) -%}
    {%- set country = rsync_braze._phone_default_country(default_country) -%}
    {%- set countries = rsync_braze._phone_countries() -%}
    {%- set home = countries[country] -%}
    {%- set separators = rsync_braze._whitespace_chars() ~ "./()-" -%}
    {#- The cast lets a number column in; a number that lost its leading 0 reads as a national one without trunk. -#}
    {%- set text = "cast(" ~ column ~ " as " ~ dbt.type_string() ~ ")" -%}
    {%- set cleaned = "translate(replace(" ~ text ~ ", '(0)', ''), '" ~ separators ~ "', '')" -%}
    case
        when not {{ rsync_braze._regex_matches(cleaned, '^([+]|00)?[0-9]+$') }} then null
        when {{ cleaned }} like '+%' then {{ rsync_braze._phone_international(cleaned, countries) }}
        when {{ cleaned }} like '00%' then {{ rsync_braze._phone_international("'+' || substr(" ~ cleaned ~ ", 3)", countries) }}
        {%- if home.trunk %}
        when {{ cleaned }} like '{{ home.trunk }}%' then {{ rsync_braze._phone_national("substr(" ~ cleaned ~ ", " ~ (home.trunk | length + 1) ~ ")", home) }}
        {%- endif %}
        else coalesce(
            {{ rsync_braze._phone_national(cleaned, home) }},
            case when {{ cleaned }} like '{{ home.cc }}%'
                then {{ rsync_braze._phone_national("substr(" ~ cleaned ~ ", " ~ (home.cc | length + 1) ~ ")", home) }}
            end
        )
    end
{% endmacro %}

{#- Countries whose numbers are checked digit by digit: country code, trunk prefix dialled before a
    national number ('' when there is none), and a pattern of the national significant number (NSN),
    simplified from the numbering plans (libphonenumber's metadata): its length and first digit.
    Patterns use the portable subset described in _regex.sql. -#}
{% macro _phone_countries() -%}
    {%- do return({
        'AT': {'cc': '43', 'trunk': '0', 'nsn': '[1-9][0-9]{3,12}'},
        'BE': {'cc': '32', 'trunk': '0', 'nsn': '4[5-9][0-9]{7}|4[0-4][0-9]{6}|[1-35-9][0-9]{7}'},
        'CA': {'cc': '1', 'trunk': '1', 'nsn': '[2-9][0-9]{2}[2-9][0-9]{6}'},
        'CH': {'cc': '41', 'trunk': '0', 'nsn': '[2-9][0-9]{8}'},
        'DE': {'cc': '49', 'trunk': '0', 'nsn': '[1-9][0-9]{5,12}'},
        'DZ': {'cc': '213', 'trunk': '0', 'nsn': '[1-9][0-9]{7,8}'},
        'ES': {'cc': '34', 'trunk': '', 'nsn': '[4-9][0-9]{8}'},
        'FR': {'cc': '33', 'trunk': '0', 'nsn': '[1-9][0-9]{8}'},
        'GB': {'cc': '44', 'trunk': '0', 'nsn': '[1-9][0-9]{8,9}'},
        'IE': {'cc': '353', 'trunk': '0', 'nsn': '[1-9][0-9]{6,9}'},
        'IT': {'cc': '39', 'trunk': '', 'nsn': '0[0-9]{5,10}|3[0-9]{8,9}'},
        'LU': {'cc': '352', 'trunk': '', 'nsn': '[2-9][0-9]{3,10}'},
        'MA': {'cc': '212', 'trunk': '0', 'nsn': '[5-8][0-9]{8}'},
        'NL': {'cc': '31', 'trunk': '0', 'nsn': '[1-9][0-9]{8}'},
        'PT': {'cc': '351', 'trunk': '', 'nsn': '[1-9][0-9]{8}'},
        'TN': {'cc': '216', 'trunk': '', 'nsn': '[2-9][0-9]{7}'},
        'US': {'cc': '1', 'trunk': '1', 'nsn': '[2-9][0-9]{2}[2-9][0-9]{6}'},
    }) -%}
{%- endmacro %}

{#- The default country, upper-cased and checked at compile time. -#}
{% macro _phone_default_country(default_country) -%}
    {%- set value = default_country if default_country is not none else var('rsync_braze_default_country', 'FR') -%}
    {%- set supported = rsync_braze._phone_countries().keys() | sort -%}
    {%- if value is not string or (value | upper) not in supported -%}
        {{ exceptions.raise_compiler_error(
            "normalize_phone: default country " ~ (value | string) ~ " is not supported. Pass default_country "
            ~ "or set var('rsync_braze_default_country') to one of " ~ (supported | join(', '))
            ~ " (numbers written +CC... or 00CC... are normalized whatever the default country).") }}
    {%- endif -%}
    {%- do return(value | upper) -%}
{%- endmacro %}

{#- A regular expression of one digit repeated: 0+|1+|...|9+. -#}
{% macro _phone_repeated_digit() -%}
    {%- set runs = [] -%}
    {%- for digit in range(10) -%}{%- do runs.append(digit ~ '+') -%}{%- endfor -%}
    {%- do return(runs | join('|')) -%}
{%- endmacro %}

{#- A national significant number of `home` as E.164, or NULL. -#}
{% macro _phone_national(nsn, home) -%}
    case
        when {{ rsync_braze._regex_matches(nsn, '^(' ~ rsync_braze._phone_repeated_digit() ~ ')$') }} then null
        when {{ rsync_braze._regex_matches(nsn, '^(' ~ home.nsn ~ ')$') }} then '+{{ home.cc }}' || {{ nsn }}
    end
{%- endmacro %}

{#- A candidate '+digits' checked against the known countries, else against E.164's length. -#}
{% macro _phone_international(candidate, countries) -%}
    {%- set by_code = {} -%}
    {%- for country in countries.values() -%}{%- do by_code.update({country.cc: country}) -%}{%- endfor -%}
    {%- set codes = by_code.keys() | sort -%}
    {%- set known = [] -%}{%- set with_trunk_2 = [] -%}{%- set with_trunk_3 = [] -%}
    {%- for cc in codes -%}
        {%- do known.append(cc ~ '(' ~ by_code[cc].nsn ~ ')') -%}
        {%- if by_code[cc].trunk == '0' -%}
            {%- do (with_trunk_2 if cc | length == 2 else with_trunk_3).append(cc ~ '0(' ~ by_code[cc].nsn ~ ')') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set repeated = rsync_braze._phone_repeated_digit() -%}
    case
        when {{ rsync_braze._regex_matches(candidate, '^[+](' ~ codes | join('|') ~ ')0?(' ~ repeated ~ ')$') }} then null
        when {{ rsync_braze._regex_matches(candidate, '^[+](' ~ known | join('|') ~ ')$') }} then {{ candidate }}
        {%- if with_trunk_2 %}
        when {{ rsync_braze._regex_matches(candidate, '^[+](' ~ with_trunk_2 | join('|') ~ ')$') }}
            then substr({{ candidate }}, 1, 3) || substr({{ candidate }}, 5)
        {%- endif %}
        {%- if with_trunk_3 %}
        when {{ rsync_braze._regex_matches(candidate, '^[+](' ~ with_trunk_3 | join('|') ~ ')$') }}
            then substr({{ candidate }}, 1, 4) || substr({{ candidate }}, 6)
        {%- endif %}
        when {{ rsync_braze._regex_matches(candidate, '^[+](' ~ codes | join('|') ~ ')[0-9]*$') }} then null
        when {{ rsync_braze._regex_matches(candidate, '^[+][0-9]{1,3}(' ~ repeated ~ ')$') }} then null
        when {{ rsync_braze._regex_matches(candidate, '^[+][1-9][0-9]{7,14}$') }} then {{ candidate }}
    end
{%- endmacro %}
