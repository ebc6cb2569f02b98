{{
    config(
        materialized='incremental',
        pre_hook="{{ delete_run_window('attempt_date') }}",
        on_schema_change='fail',
        **day_partitioned('attempt_date')
    )
}}

-- Day-partitioned: a daily run rebuilds the attempts started in its window (see run_window).
with

attempts as (

    select * from {{ ref('int_attempts__priced') }}

),

requests as (

    -- the request facts of this run are built first; older requests are already there
    select * from {{ ref('fct_ai_requests') }}

),

final_attempts as (

    -- the last attempt of each request, ranked on a narrow relation: a window
    -- over the wide attempt rows ran out of DuckDB's memory limit at 10M
    -- attempts (4 GB was not enough)
    select
        attempt_id,
        row_number() over (
            partition by request_id
            order by started_at desc, attempt_number desc
        ) = 1 as is_final_attempt
    from attempts

),

final as (

    select
        -- ids
        attempts.attempt_id,
        attempts.request_id,
        attempts.gateway_request_id,
        attempts.trace_id,
        attempts.provider_response_id,
        -- LiteLLM attempts carry no key or project: the provider's record has them
        coalesce(attempts.provider_key_id, attempts.provider_record_key_id) as provider_key_id,
        coalesce(
            attempts.provider_project_id, attempts.provider_record_project_id
        ) as provider_project_id,
        requests.tenant_id,
        requests.workload,

        -- dimensions
        attempts.gateway,
        attempts.route_name,
        attempts.attempt_number,
        attempts.routing_decision,
        attempts.routing_reason,
        attempts.routing_decision like 'retry%' as is_retry,
        attempts.routing_decision like 'fallback%' as is_fallback,
        final_attempts.is_final_attempt,
        attempts.provider_name,
        attempts.provider_id,
        attempts.request_model as requested_model,
        attempts.resolved_model,
        attempts.model_id,
        attempts.service_tier,
        attempts.is_batch,
        attempts.is_stream,
        attempts.is_usage_estimated,
        attempts.is_success,
        attempts.http_status_code,
        attempts.error_type,
        attempts.has_provider_record,
        attempts.authority_rule_id,
        attempts.authority_rule_version,
        attempts.authoritative_source,
        attempts.agreement_status,
        attempts.pricing_status,
        attempts.pricing_reason,
        attempts.contract_id,

        -- numerics: the gateway's counts (NULL = not reported)
        attempts.gateway_input_tokens,
        attempts.gateway_uncached_input_tokens,
        attempts.gateway_cache_read_tokens,
        attempts.gateway_cache_write_tokens,
        attempts.gateway_output_tokens,
        attempts.gateway_reasoning_tokens,
        -- the provider's counts (NULL = no provider record)
        attempts.provider_uncached_input_tokens,
        attempts.provider_cache_read_tokens,
        attempts.provider_cache_write_tokens,
        attempts.provider_cache_write_1h_tokens,
        attempts.provider_output_tokens,
        attempts.provider_reasoning_tokens,
        -- the billed (authoritative) counts
        attempts.uncached_input_tokens,
        attempts.cache_read_tokens,
        attempts.cache_write_tokens,
        attempts.cache_write_1h_tokens,
        attempts.input_tokens,
        attempts.output_tokens,
        attempts.reasoning_tokens,
        -- price used (per token) and cost
        attempts.price_book_provider_id,
        attempts.price_service_tier,
        attempts.price_processing,
        attempts.price_effective_from,
        attempts.price_effective_to,
        attempts.tier_min_input_tokens,
        attempts.input_price_per_token,
        attempts.cache_read_price_per_token,
        attempts.cache_write_price_per_token,
        attempts.cache_write_1h_price_per_token,
        attempts.output_price_per_token,
        attempts.discount_pct,
        attempts.list_cost_usd,
        attempts.effective_cost_usd,

        -- timestamps
        attempts.started_at,
        cast(attempts.started_at as date) as attempt_date,
        attempts.ended_at,
        attempts.duration_ms,

        -- lineage
        attempts.source_file,
        attempts.source_line_number

    from attempts
    inner join final_attempts
        on attempts.attempt_id = final_attempts.attempt_id
    left join requests
        on attempts.request_id = requests.request_id

)

select * from final
where {{ run_window('attempt_date') }}
