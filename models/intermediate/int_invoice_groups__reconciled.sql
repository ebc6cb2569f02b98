-- The invoice is the truth of the total. For every provider x billing period x project, the
-- invoiced amount against the effective cost the warehouse attributed to attempts of that
-- provider and project started in the period. Attempts that no invoice line covers yet form
-- their own daily groups, 'awaiting_invoice', and are not reconciled.
with

invoice_lines as (

    select * from {{ ref('int_invoice_lines__unioned') }}

),

attempts as (

    select * from {{ ref('fct_gateway_attempts') }}

),

invoice_groups as (

    select
        provider_id,
        provider_project_id,
        period_started_at,
        period_ended_at,
        count(*) as invoice_line_count,
        sum(amount_usd) as invoice_amount_usd,
        min(currency) as currency,
        count(distinct currency) as currency_count
    from invoice_lines
    group by provider_id, provider_project_id, period_started_at, period_ended_at

),

attempts_in_groups as (

    select
        attempts.attempt_id,
        attempts.tenant_id,
        attempts.pricing_status,
        attempts.effective_cost_usd,
        invoice_groups.provider_id,
        invoice_groups.provider_project_id,
        invoice_groups.period_started_at,
        invoice_groups.period_ended_at
    from attempts
    inner join invoice_groups
        on attempts.provider_id = invoice_groups.provider_id
        and attempts.provider_project_id = invoice_groups.provider_project_id
        and attempts.started_at >= invoice_groups.period_started_at
        and attempts.started_at < invoice_groups.period_ended_at

),

attempts_awaiting as (

    select
        attempts.attempt_id,
        attempts.tenant_id,
        attempts.pricing_status,
        attempts.effective_cost_usd,
        attempts.provider_id,
        attempts.provider_project_id,
        cast(attempts.attempt_date as timestamp) as period_started_at,
        {{ dbt.dateadd('day', 1, 'cast(attempts.attempt_date as timestamp)') }}
            as period_ended_at
    from attempts
    where not exists (
        select 1
        from attempts_in_groups
        where attempts_in_groups.attempt_id = attempts.attempt_id
    )

),

attributed as (

    select
        provider_id,
        provider_project_id,
        period_started_at,
        period_ended_at,
        count(*) as attempt_count,
        sum(case when pricing_status = 'unpriced' then 1 else 0 end) as unpriced_attempt_count,
        coalesce(
            sum(case when pricing_status <> 'unpriced' then effective_cost_usd end),
            cast(0 as {{ money_type() }})
        ) as attributed_effective_cost_usd,
        coalesce(
            sum(
                case
                    when pricing_status <> 'unpriced' and tenant_id = 'unattributed'
                        then effective_cost_usd
                end
            ),
            cast(0 as {{ money_type() }})
        ) as unattributed_effective_cost_usd
    from (
        select * from attempts_in_groups
        union all
        select * from attempts_awaiting
    ) as all_attempts
    group by provider_id, provider_project_id, period_started_at, period_ended_at

),

final as (

    select
        coalesce(invoice_groups.provider_id, attributed.provider_id) as provider_id,
        coalesce(
            invoice_groups.provider_project_id, attributed.provider_project_id
        ) as provider_project_id,
        coalesce(
            invoice_groups.period_started_at, attributed.period_started_at
        ) as period_started_at,
        coalesce(invoice_groups.period_ended_at, attributed.period_ended_at) as period_ended_at,
        coalesce(invoice_groups.currency, 'USD') as currency,
        coalesce(invoice_groups.invoice_line_count, 0) as invoice_line_count,
        invoice_groups.invoice_amount_usd,
        coalesce(attributed.attempt_count, 0) as attempt_count,
        coalesce(attributed.unpriced_attempt_count, 0) as unpriced_attempt_count,
        coalesce(
            attributed.attributed_effective_cost_usd, cast(0 as {{ money_type() }})
        ) as attributed_effective_cost_usd,
        coalesce(
            attributed.unattributed_effective_cost_usd, cast(0 as {{ money_type() }})
        ) as unattributed_effective_cost_usd,
        invoice_groups.invoice_amount_usd
        - coalesce(
            attributed.attributed_effective_cost_usd, cast(0 as {{ money_type() }})
        ) as remainder_usd,
        case
            when invoice_groups.provider_id is null then 'awaiting_invoice'
            when invoice_groups.currency_count > 1 then 'currency_mismatch'
            when invoice_groups.invoice_amount_usd
                = coalesce(attributed.attributed_effective_cost_usd, 0)
                then 'reconciled'
            else 'remainder_allocated'
        end as reconciliation_status
    from invoice_groups
    full outer join attributed
        on invoice_groups.provider_id = attributed.provider_id
        and invoice_groups.provider_project_id = attributed.provider_project_id
        and invoice_groups.period_started_at = attributed.period_started_at
        and invoice_groups.period_ended_at = attributed.period_ended_at

)

select * from final
