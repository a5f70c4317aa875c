{#- Purchases Braze would accept: quantity 1 to 100, a price not negative, a three-letter currency. -#}

select *
from {{ ref('braze_purchases') }}
where quantity not between 1 and 100
    or price < 0
    or currency !~ '^[A-Z]{3}$'
    or purchased_at is null
