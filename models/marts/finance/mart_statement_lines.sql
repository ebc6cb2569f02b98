-- The statement of record. A closed month reads its frozen snapshot (audit, written by
-- `ai-chargeback close`); an open month reads the live mart_chargeback_monthly. What changed in
-- a closed month since its close (late data, re-attribution) is billed as 'adjustment' lines in
-- the first open month after it: live minus frozen, per statement line of the closed month,
-- minus adjustments already frozen in a later closed month. A closed month never changes.
with

live_lines as (

    select * from {{ ref('mart_chargeback_monthly') }}

),

period_closes as (

    select * from {{ ref('stg_audit__period_closes') }}

),

closed_lines as (

    select * from {{ ref('stg_audit__closed_statement_lines') }}

),

latest_events as (

    select
        *,
        row_number() over (
            partition by billing_month order by acted_at desc, event_id desc
        ) as event_rank
    from period_closes

),

closed_months as (

    -- a month is closed while its latest event is a close
    select
        billing_month,
        close_id,
        acted_at as closed_at
    from latest_events
    where event_rank = 1
        and action = 'close'

),

next_open_months as (

    -- the first open month after a closed one: one month past the end of its run of
    -- consecutive closed months
    select
        closed_months.billing_month,
        min(
            cast({{ dbt.dateadd('month', 1, 'run_months.billing_month') }} as date)
        ) as next_open_month
    from closed_months
    inner join closed_months as run_months
        on run_months.billing_month >= closed_months.billing_month
    left join closed_months as following_months
        on following_months.billing_month
        = cast({{ dbt.dateadd('month', 1, 'run_months.billing_month') }} as date)
    where following_months.billing_month is null
    group by closed_months.billing_month

),

frozen_lines as (

    select
        closed_lines.*,
        closed_months.closed_at as month_closed_at
    from closed_lines
    inner join closed_months
        on closed_lines.close_id = closed_months.close_id
        and closed_lines.billing_month = closed_months.billing_month

),

frozen_originals as (

    select * from frozen_lines
    where line_type <> 'adjustment'

),

frozen_adjustments as (

    -- adjustments of a line already billed (and frozen) in a later closed month
    select
        adjusts_statement_line_key,
        sum(quantity) as quantity,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        sum(list_cost_usd) as list_cost_usd,
        sum(amount_exact_usd) as amount_exact_usd,
        sum(amount_usd) as amount_usd
    from frozen_lines
    where line_type = 'adjustment'
    group by adjusts_statement_line_key

),

live_of_closed_months as (

    select live_lines.*
    from live_lines
    inner join closed_months
        on live_lines.billing_month = closed_months.billing_month

),

compared as (

    select
        coalesce(
            live.statement_line_key, frozen.statement_line_key
        ) as adjusts_statement_line_key,
        coalesce(live.billing_month, frozen.billing_month) as adjusted_billing_month,
        coalesce(live.tenant_id, frozen.tenant_id) as tenant_id,
        coalesce(live.provider_id, frozen.provider_id) as provider_id,
        coalesce(live.line_type, frozen.line_type) as adjusted_line_type,
        coalesce(live.model_id, frozen.model_id) as model_id,
        coalesce(live.workload, frozen.workload) as workload,
        coalesce(
            live.provider_project_id, frozen.provider_project_id
        ) as provider_project_id,
        coalesce(live.quantity_unit, frozen.quantity_unit) as quantity_unit,
        cast(
            coalesce(live.quantity, 0) - coalesce(frozen.quantity, 0)
            - coalesce(frozen_adjustments.quantity, 0)
            as bigint
        ) as quantity,
        cast(
            coalesce(live.input_tokens, 0) - coalesce(frozen.input_tokens, 0)
            - coalesce(frozen_adjustments.input_tokens, 0)
            as bigint
        ) as input_tokens,
        cast(
            coalesce(live.output_tokens, 0) - coalesce(frozen.output_tokens, 0)
            - coalesce(frozen_adjustments.output_tokens, 0)
            as bigint
        ) as output_tokens,
        cast(
            coalesce(live.list_cost_usd, 0) - coalesce(frozen.list_cost_usd, 0)
            - coalesce(frozen_adjustments.list_cost_usd, 0)
            as {{ money_type() }}
        ) as list_cost_usd,
        cast(
            coalesce(live.amount_exact_usd, 0) - coalesce(frozen.amount_exact_usd, 0)
            - coalesce(frozen_adjustments.amount_exact_usd, 0)
            as {{ money_type() }}
        ) as amount_exact_usd,
        cast(
            coalesce(live.amount_usd, 0) - coalesce(frozen.amount_usd, 0)
            - coalesce(frozen_adjustments.amount_usd, 0)
            as decimal(38, 2)
        ) as amount_usd
    from live_of_closed_months as live
    full outer join frozen_originals as frozen
        on live.statement_line_key = frozen.statement_line_key
    left join frozen_adjustments
        on coalesce(live.statement_line_key, frozen.statement_line_key)
        = frozen_adjustments.adjusts_statement_line_key

),

adjustment_lines as (

    select
        {{ dbt.hash(
            "compared.adjusts_statement_line_key || '|adjustment|'"
            ~ " || cast(next_open_months.next_open_month as " ~ dbt.type_string() ~ ")"
        ) }} as statement_line_key,
        next_open_months.next_open_month as billing_month,
        compared.tenant_id,
        compared.provider_id,
        'adjustment' as line_type,
        compared.adjusted_line_type,
        compared.adjusted_billing_month,
        compared.adjusts_statement_line_key,
        compared.model_id,
        compared.workload,
        compared.provider_project_id,
        compared.quantity,
        compared.quantity_unit,
        compared.input_tokens,
        compared.output_tokens,
        compared.list_cost_usd,
        compared.amount_exact_usd,
        compared.amount_usd,
        'open' as statement_status,
        cast(null as {{ dbt.type_string() }}) as close_id,
        cast(null as timestamp) as closed_at
    from compared
    inner join next_open_months
        on compared.adjusted_billing_month = next_open_months.billing_month
    where compared.quantity <> 0
        or compared.input_tokens <> 0
        or compared.output_tokens <> 0
        or compared.list_cost_usd <> 0
        or compared.amount_exact_usd <> 0
        or compared.amount_usd <> 0

),

open_lines as (

    select
        live_lines.statement_line_key,
        live_lines.billing_month,
        live_lines.tenant_id,
        live_lines.provider_id,
        live_lines.line_type,
        cast(null as {{ dbt.type_string() }}) as adjusted_line_type,
        cast(null as date) as adjusted_billing_month,
        cast(null as {{ dbt.type_string() }}) as adjusts_statement_line_key,
        live_lines.model_id,
        live_lines.workload,
        live_lines.provider_project_id,
        cast(live_lines.quantity as bigint) as quantity,
        live_lines.quantity_unit,
        cast(live_lines.input_tokens as bigint) as input_tokens,
        cast(live_lines.output_tokens as bigint) as output_tokens,
        live_lines.list_cost_usd,
        live_lines.amount_exact_usd,
        live_lines.amount_usd,
        'open' as statement_status,
        cast(null as {{ dbt.type_string() }}) as close_id,
        cast(null as timestamp) as closed_at
    from live_lines
    left join closed_months
        on live_lines.billing_month = closed_months.billing_month
    where closed_months.billing_month is null

),

closed_month_lines as (

    select
        statement_line_key,
        billing_month,
        tenant_id,
        provider_id,
        line_type,
        adjusted_line_type,
        adjusted_billing_month,
        adjusts_statement_line_key,
        model_id,
        workload,
        provider_project_id,
        quantity,
        quantity_unit,
        input_tokens,
        output_tokens,
        list_cost_usd,
        amount_exact_usd,
        amount_usd,
        'closed' as statement_status,
        close_id,
        month_closed_at as closed_at
    from frozen_lines

),

final as (

    select * from closed_month_lines
    union all
    select * from open_lines
    union all
    select * from adjustment_lines

)

select * from final
