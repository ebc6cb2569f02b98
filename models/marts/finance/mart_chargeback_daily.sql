-- Grain: tenant x day x provider x model x workload, from the attempts (the day an attempt
-- started is the day the provider bills it). Retry waste is the effective cost of attempts
-- before a request's final one; the fallback premium is counted on the final attempt.
{{
    config(
        materialized='incremental',
        pre_hook="{{ delete_run_window('usage_date') }}",
        on_schema_change='fail',
        **day_partitioned('usage_date')
    )
}}

with

attempts as (

    select * from {{ ref('fct_gateway_attempts') }}
    where {{ run_window('attempt_date') }}

),

requests as (

    select * from {{ ref('fct_ai_requests') }}

),

final_attempts_premium as (

    select
        request_id,
        fallback_premium_usd
    from requests
    where fallback_premium_usd is not null

),

daily as (

    select
        attempts.tenant_id,
        attempts.attempt_date as usage_date,
        attempts.provider_id,
        coalesce(attempts.model_id, attempts.resolved_model) as model_id,
        coalesce(attempts.workload, '(none)') as workload,
        count(distinct attempts.request_id) as request_count,
        count(*) as attempt_count,
        sum(case when attempts.is_retry then 1 else 0 end) as retry_count,
        sum(case when attempts.is_fallback then 1 else 0 end) as fallback_count,
        sum(case when attempts.pricing_status = 'unpriced' then 1 else 0 end)
            as unpriced_attempt_count,
        sum(coalesce(attempts.input_tokens, attempts.gateway_input_tokens, 0)) as input_tokens,
        sum(coalesce(attempts.cache_read_tokens, 0)) as cache_read_tokens,
        sum(coalesce(attempts.cache_write_tokens, 0)) as cache_write_tokens,
        sum(coalesce(attempts.output_tokens, 0)) as output_tokens,
        coalesce(sum(attempts.list_cost_usd), cast(0 as {{ money_type() }})) as list_cost_usd,
        coalesce(
            sum(attempts.effective_cost_usd), cast(0 as {{ money_type() }})
        ) as effective_cost_usd,
        coalesce(
            sum(case when not attempts.is_final_attempt then attempts.effective_cost_usd end),
            cast(0 as {{ money_type() }})
        ) as retry_waste_usd,
        coalesce(
            sum(
                case
                    when attempts.is_final_attempt
                        then final_attempts_premium.fallback_premium_usd
                end
            ),
            cast(0 as {{ money_type() }})
        ) as fallback_premium_usd
    from attempts
    left join final_attempts_premium
        on attempts.request_id = final_attempts_premium.request_id
    group by 1, 2, 3, 4, 5

),

final as (

    select
        {{ dbt.hash(
            "tenant_id || '|' || cast(usage_date as " ~ dbt.type_string() ~ ") || '|' || provider_id"
            ~ " || '|' || coalesce(model_id, '') || '|' || workload"
        ) }} as chargeback_daily_key,
        *
    from daily

)

select * from final
