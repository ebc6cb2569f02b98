-- The month's statement lines of an invoiced provider add up to what was invoiced plus what
-- is still awaiting an invoice: nothing is hidden, nothing is charged twice.
with

statement as (

    select provider_id, billing_month, sum(amount_exact_usd) as statement_usd
    from {{ ref('mart_chargeback_monthly') }}
    group by provider_id, billing_month

),

reconciliation as (

    select
        provider_id,
        billing_month,
        sum(coalesce(invoice_amount_usd, attributed_effective_cost_usd)) as invoiced_usd
    from {{ ref('mart_invoice_reconciliation') }}
    group by provider_id, billing_month

)

select
    coalesce(statement.provider_id, reconciliation.provider_id) as provider_id,
    coalesce(statement.billing_month, reconciliation.billing_month) as billing_month,
    statement.statement_usd,
    reconciliation.invoiced_usd
from statement
full outer join reconciliation
    on statement.provider_id = reconciliation.provider_id
    and statement.billing_month = reconciliation.billing_month
where coalesce(statement.statement_usd, 0) <> coalesce(reconciliation.invoiced_usd, 0)
