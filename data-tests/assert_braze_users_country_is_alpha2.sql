-- Braze takes ISO-3166 alpha-2 countries only: any other value would be nulled by Braze.
select external_id, country
from {{ ref('braze_users') }}
where country is not null
  and (length(country) <> 2 or upper(country) <> country)
