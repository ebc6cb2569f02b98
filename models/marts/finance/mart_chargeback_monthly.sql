-- Statement lines per tenant x month. Line types:
--   usage                the effective cost of requests' final attempts (provider x model x workload)
--   retry_waste          the effective cost of attempts before the final one (same breakdown)
--   allocated_remainder  the tenant's share of the invoice remainder (provider x project)
--   unpriced             attempts that could not be priced: a count, no amount (their cost is in
--                        the invoice, so it reaches tenants through the allocated remainder)
-- Rounding to cents happens here only: within each provider x month, every line is floored to
-- the cent and the missing cents (total rounded half away from zero, minus the floored sum) go
-- one each to the lines with the largest dropped fractions (ties: line key). The cent lines of a
-- provider x month therefore add up to its exact total, invoice remainder included, to the cent.
with

attempts as (

    select * from {{ ref('fct_gateway_attempts') }}

),

allocations as (

    select * from {{ ref('int_invoice_remainder__allocated') }}

),

attempt_lines as (

    select
        attempts.tenant_id,
        cast({{ dbt.date_trunc('month', 'attempts.started_at') }} as date) as billing_month,
        attempts.provider_id,
        case
            when attempts.pricing_status = 'unpriced' then 'unpriced'
            when attempts.is_final_attempt then 'usage'
            else 'retry_waste'
        end as line_type,
        coalesce(attempts.model_id, attempts.resolved_model) as model_id,
        coalesce(attempts.workload, '(none)') as workload,
        cast(null as {{ dbt.type_string() }}) as provider_project_id,
        count(*) as quantity,
        'attempts' as quantity_unit,
        sum(coalesce(attempts.input_tokens, attempts.gateway_input_tokens, 0)) as input_tokens,
        sum(coalesce(attempts.output_tokens, 0)) as output_tokens,
        coalesce(sum(attempts.list_cost_usd), cast(0 as {{ money_type() }})) as list_cost_usd,
        coalesce(
            sum(case when attempts.pricing_status <> 'unpriced' then attempts.effective_cost_usd end),
            cast(0 as {{ money_type() }})
        ) as amount_exact_usd
    from attempts
    group by 1, 2, 3, 4, 5, 6

),

remainder_lines as (

    select
        tenant_id,
        cast({{ dbt.date_trunc('month', 'period_started_at') }} as date) as billing_month,
        provider_id,
        'allocated_remainder' as line_type,
        cast(null as {{ dbt.type_string() }}) as model_id,
        cast(null as {{ dbt.type_string() }}) as workload,
        provider_project_id,
        count(*) as quantity,
        'billing periods' as quantity_unit,
        cast(0 as bigint) as input_tokens,
        cast(0 as bigint) as output_tokens,
        cast(0 as {{ money_type() }}) as list_cost_usd,
        sum(allocated_remainder_usd) as amount_exact_usd
    from allocations
    group by 1, 2, 3, 4, 5, 6, 7
    having sum(allocated_remainder_usd) <> 0

),

lines as (

    select * from attempt_lines
    union all
    select * from remainder_lines

),

keyed as (

    select
        {{ dbt.hash(
            "tenant_id || '|' || cast(billing_month as " ~ dbt.type_string() ~ ") || '|' || provider_id"
            ~ " || '|' || line_type || '|' || coalesce(model_id, '')"
            ~ " || '|' || coalesce(workload, '') || '|' || coalesce(provider_project_id, '')"
        ) }} as statement_line_key,
        lines.*,
        cast(floor(amount_exact_usd * 100) as bigint) as floor_cents,
        amount_exact_usd * 100 - floor(amount_exact_usd * 100) as dropped_fraction
    from lines

),

targets as (

    select
        *,
        cast(
            round(sum(amount_exact_usd) over (partition by provider_id, billing_month) * 100)
            as bigint
        ) - sum(floor_cents) over (partition by provider_id, billing_month) as missing_cents,
        row_number() over (
            partition by provider_id, billing_month
            order by dropped_fraction desc, statement_line_key
        ) as fraction_rank
    from keyed

),

final as (

    select
        statement_line_key,
        tenant_id,
        billing_month,
        provider_id,
        line_type,
        model_id,
        workload,
        provider_project_id,
        quantity,
        quantity_unit,
        input_tokens,
        output_tokens,
        list_cost_usd,
        amount_exact_usd,
        cast(
            cast(
                floor_cents + case when fraction_rank <= missing_cents then 1 else 0 end
                as decimal(38, 0)
            ) * cast(0.01 as decimal(3, 2))
            as decimal(38, 2)
        ) as amount_usd
    from targets

)

select * from final
