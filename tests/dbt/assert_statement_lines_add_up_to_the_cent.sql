-- Within each provider x month the cent-rounded statement lines add up to the exact total
-- (invoice, remainder included) rounded to the cent, and no line moves by a cent or more.
with

lines as (

    select * from {{ ref('mart_chargeback_monthly') }}

),

totals as (

    select
        provider_id,
        billing_month,
        sum(amount_usd) as cents_total,
        round(sum(amount_exact_usd), 2) as exact_total_rounded,
        max(abs(amount_usd - amount_exact_usd)) as largest_line_move
    from lines
    group by provider_id, billing_month

)

select *
from totals
where cents_total <> exact_total_rounded
    or largest_line_move >= 0.01
