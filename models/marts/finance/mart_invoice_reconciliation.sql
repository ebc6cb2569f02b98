with

groups as (

    select * from {{ ref('int_invoice_groups__reconciled') }}

),

allocations as (

    select * from {{ ref('int_invoice_remainder__allocated') }}

),

allocated as (

    select
        provider_id,
        provider_project_id,
        period_started_at,
        period_ended_at,
        min(allocation_rule) as allocation_rule,
        count(*) as tenants_allocated,
        sum(allocated_remainder_usd) as allocated_remainder_usd
    from allocations
    group by provider_id, provider_project_id, period_started_at, period_ended_at

),

final as (

    select
        -- ids
        {{ dbt.hash(
            "groups.provider_id || '|' || coalesce(groups.provider_project_id, '')"
            ~ " || '|' || cast(groups.period_started_at as " ~ dbt.type_string() ~ ")"
            ~ " || '|' || cast(groups.period_ended_at as " ~ dbt.type_string() ~ ")"
        ) }} as reconciliation_key,
        groups.provider_id,
        groups.provider_project_id,

        -- dimensions
        groups.reconciliation_status,
        allocated.allocation_rule,
        groups.currency,

        -- numerics
        groups.invoice_line_count,
        groups.attempt_count,
        groups.unpriced_attempt_count,
        groups.invoice_amount_usd,
        groups.attributed_effective_cost_usd,
        groups.unattributed_effective_cost_usd,
        groups.remainder_usd,
        coalesce(allocated.tenants_allocated, 0) as tenants_allocated,
        coalesce(
            allocated.allocated_remainder_usd, cast(0 as {{ money_type() }})
        ) as allocated_remainder_usd,
        groups.attributed_effective_cost_usd
        + coalesce(allocated.allocated_remainder_usd, 0) as charged_back_usd,

        -- timestamps
        groups.period_started_at,
        groups.period_ended_at,
        cast({{ dbt.date_trunc('month', 'groups.period_started_at') }} as date)
            as billing_month

    from groups
    left join allocated
        on groups.provider_id = allocated.provider_id
        and groups.provider_project_id = allocated.provider_project_id
        and groups.period_started_at = allocated.period_started_at
        and groups.period_ended_at = allocated.period_ended_at

)

select * from final
