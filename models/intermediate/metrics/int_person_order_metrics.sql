{#- One row per person with at least one order or refund (e-shop and point of sale): the metrics of
    person_order_metrics over their order lines. Cancelled e-shop orders are not orders; refunds are left out
    (a refunded e-shop order, a till sale named by a refund receipt, in full or in part, and the refund receipt
    itself count for nothing but refund_count); amounts are converted
    into var('rsync_braze_reporting_currency') with seeds/metrics/currency_rates.csv. -#}

with

order_lines as (

    select * from {{ ref('int_order_lines_persons') }}
    where order_status <> 'cancelled'

),

{#- Till refunds that name the sale they refund (the receipt was scanned): a small share of the receipts. #}
refund_links as (

    select
        transaction_id as order_id,
        original_transaction_id as refunded_order_id
    from {{ ref('stg_pos__transactions') }}
    where original_transaction_id is not null

),

linked_order_lines as (

    select
        order_lines.*,
        refund_links.refunded_order_id
    from order_lines
    left join refund_links on refund_links.order_id = order_lines.order_id

),

stores as (

    select * from {{ ref('stg_pos__stores') }}

),

metrics as (

    {{ rsync_braze.person_order_metrics(
        'linked_order_lines',
        amount='line_amount',
        is_refund='is_refund',
        refunds='exclude',
        refunded_order_id='refunded_order_id',
        currency='currency',
        target_currency=var('rsync_braze_reporting_currency', 'EUR'),
        rates=ref('currency_rates'),
        channel='channel',
        store='store_id',
        category='product_category',
        product='product_id',
    ) | indent(4) }}

),

final as (

    select
        metrics.*,
        stores.store_name as favourite_store_name,
        '{{ var("rsync_braze_reporting_currency", "EUR") }}' as reporting_currency
    from metrics
    left join stores on stores.store_id = metrics.favourite_store

)

select * from final
