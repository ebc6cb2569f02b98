-- The remainder of every invoiced group (invoice minus attributed effective cost, positive or
-- negative) shared out to tenants by the configured rule (var remainder_allocation_rule):
--   proportional_to_attributed_cost (default): by each tenant's attributed effective cost in
--     the same provider x period x project; a group with no attributed cost goes to
--     'unattributed';
--   unattributed: all of it to 'unattributed'.
-- Shares are rounded toward zero at 12 decimals and the residue goes to the tenant with the
-- largest weight, so the shares add up to the remainder exactly.
with

groups as (

    select * from {{ ref('int_invoice_groups__reconciled') }}
    where reconciliation_status in ('reconciled', 'remainder_allocated')

),

attempts as (

    select * from {{ ref('fct_gateway_attempts') }}

),

tenant_costs as (

    select
        groups.provider_id,
        groups.provider_project_id,
        groups.period_started_at,
        groups.period_ended_at,
        attempts.tenant_id,
        sum(attempts.effective_cost_usd) as attributed_effective_cost_usd
    from groups
    inner join attempts
        on attempts.provider_id = groups.provider_id
        and attempts.provider_project_id = groups.provider_project_id
        and attempts.started_at >= groups.period_started_at
        and attempts.started_at < groups.period_ended_at
        and attempts.pricing_status <> 'unpriced'
    group by
        groups.provider_id,
        groups.provider_project_id,
        groups.period_started_at,
        groups.period_ended_at,
        attempts.tenant_id

),

weights as (

    -- who shares the remainder, and by what weight
    select
        groups.provider_id,
        groups.provider_project_id,
        groups.period_started_at,
        groups.period_ended_at,
        groups.remainder_usd,
        coalesce(tenant_costs.tenant_id, 'unattributed') as tenant_id,
        coalesce(
            tenant_costs.attributed_effective_cost_usd, cast(0 as {{ money_type() }})
        ) as attributed_effective_cost_usd,
        case
            when '{{ var("remainder_allocation_rule") }}' = 'unattributed'
                then case when tenant_costs.tenant_id = 'unattributed' then 1 else 0 end
            when groups.attributed_effective_cost_usd = 0
                then case
                    when coalesce(tenant_costs.tenant_id, 'unattributed') = 'unattributed'
                        then 1
                    else 0
                end
            else coalesce(tenant_costs.attributed_effective_cost_usd, 0)
        end as allocation_weight
    from groups
    left join tenant_costs
        on groups.provider_id = tenant_costs.provider_id
        and groups.provider_project_id = tenant_costs.provider_project_id
        and groups.period_started_at = tenant_costs.period_started_at
        and groups.period_ended_at = tenant_costs.period_ended_at

),

with_unattributed as (

    -- the 'unattributed' tenant takes a remainder nobody else can: make sure it has a row
    select * from weights
    union all
    select
        groups.provider_id,
        groups.provider_project_id,
        groups.period_started_at,
        groups.period_ended_at,
        groups.remainder_usd,
        'unattributed' as tenant_id,
        cast(0 as {{ money_type() }}) as attributed_effective_cost_usd,
        case
            when '{{ var("remainder_allocation_rule") }}' = 'unattributed'
                or groups.attributed_effective_cost_usd = 0
                then 1
            else 0
        end as allocation_weight
    from groups
    where not exists (
        select 1
        from weights
        where weights.provider_id = groups.provider_id
            and weights.provider_project_id = groups.provider_project_id
            and weights.period_started_at = groups.period_started_at
            and weights.period_ended_at = groups.period_ended_at
            and weights.tenant_id = 'unattributed'
    )

),

shares as (

    select
        *,
        sum(allocation_weight) over (
            partition by provider_id, provider_project_id, period_started_at, period_ended_at
        ) as total_weight,
        row_number() over (
            partition by provider_id, provider_project_id, period_started_at, period_ended_at
            order by allocation_weight desc, tenant_id
        ) as weight_rank
    from with_unattributed

),

rounded as (

    select
        *,
        {{ allocate_proportionally('remainder_usd', 'allocation_weight', 'total_weight') }}
            as truncated_share_usd
    from shares

),

final as (

    select
        provider_id,
        provider_project_id,
        period_started_at,
        period_ended_at,
        tenant_id,
        attributed_effective_cost_usd,
        allocation_weight,
        '{{ var("remainder_allocation_rule") }}' as allocation_rule,
        cast(
            truncated_share_usd
            + case
                when weight_rank = 1
                    then remainder_usd
                    - sum(truncated_share_usd) over (
                        partition by
                            provider_id,
                            provider_project_id,
                            period_started_at,
                            period_ended_at
                    )
                else 0
            end
            as {{ money_type() }}
        ) as allocated_remainder_usd
    from rounded
    where allocation_weight <> 0 or attributed_effective_cost_usd <> 0

)

select * from final
