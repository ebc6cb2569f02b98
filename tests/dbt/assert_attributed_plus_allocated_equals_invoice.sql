-- For every invoiced provider x period x project: attributed effective cost + the remainder
-- allocated to tenants = the invoice, exactly (Decimal). Rows returned are failures.
select
    provider_id,
    provider_project_id,
    period_started_at,
    invoice_amount_usd,
    attributed_effective_cost_usd,
    allocated_remainder_usd
from {{ ref('mart_invoice_reconciliation') }}
where reconciliation_status in ('reconciled', 'remainder_allocated')
    and attributed_effective_cost_usd + allocated_remainder_usd <> invoice_amount_usd
