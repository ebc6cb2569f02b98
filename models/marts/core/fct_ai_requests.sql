{{
    config(
        materialized='incremental',
        pre_hook="{{ delete_run_window('request_date') }}",
        on_schema_change='fail',
        **day_partitioned('request_date')
    )
}}

-- Day-partitioned: a daily run rebuilds the requests of its window (see run_window).
with

requests as (

    select * from {{ ref('int_requests__attributed') }}

),

final as (

    select
        -- ids
        request_id,
        app_request_id,
        tenant_id,
        user_hash,
        trace_id,
        final_gateway_request_id as gateway_request_id,
        final_provider_project_id as provider_project_id,

        -- dimensions
        attribution_source,
        gateway,
        workload,
        feature,
        prompt_template_id,
        prompt_template_version,
        expected_route,
        route_name,
        expected_model,
        expected_model_id,
        final_requested_model as requested_model,
        final_provider_id as provider_id,
        final_resolved_model as resolved_model,
        final_model_id as model_id,
        coalesce(routing_decisions, '') as routing_decisions,
        service_tier,
        coalesce(is_batch, false) as is_batch,
        has_app_request,
        has_gateway_traffic,
        coalesce(is_late_arrival, false) as is_late_arrival,
        coalesce(is_final_attempt_success, false) as is_served,
        expected_model_id is not null
        and final_model_id is not null
        and expected_model_id <> final_model_id as is_model_switched,
        case
            when not has_gateway_traffic then 'no_usage'
            when unpriced_attempt_count > 0 then 'unpriced'
            when final_pricing_status = 'no_usage'
                and priced_list_cost_usd = 0 then 'no_usage'
            else 'priced'
        end as pricing_status,
        case
            when not has_gateway_traffic then 'no gateway traffic for this request'
            when unpriced_attempt_count > 0 then unpriced_reason
        end as pricing_reason,

        -- numerics
        coalesce(attempt_count, 0) as attempt_count,
        coalesce(retry_count, 0) as retry_count,
        coalesce(fallback_count, 0) as fallback_count,
        coalesce(failed_attempt_count, 0) as failed_attempt_count,
        coalesce(disagreeing_attempt_count, 0) as disagreeing_attempt_count,
        coalesce(estimated_attempt_count, 0) as estimated_attempt_count,
        -- NULL when an attempt's cache split was reported by nobody (unknown, not 0)
        case when has_gateway_traffic then uncached_input_tokens else 0 end
            as uncached_input_tokens,
        case when has_gateway_traffic then cache_read_tokens else 0 end as cache_read_tokens,
        case when has_gateway_traffic then cache_write_tokens else 0 end as cache_write_tokens,
        coalesce(input_tokens, 0) as input_tokens,
        coalesce(output_tokens, 0) as output_tokens,
        coalesce(reasoning_tokens, 0) as reasoning_tokens,
        case
            when not has_gateway_traffic then cast(0 as {{ money_type() }})
            when unpriced_attempt_count = 0 then priced_list_cost_usd
        end as list_cost_usd,
        case
            when not has_gateway_traffic then cast(0 as {{ money_type() }})
            when unpriced_attempt_count = 0 then priced_effective_cost_usd
        end as effective_cost_usd,
        coalesce(retry_waste_usd, cast(0 as {{ money_type() }})) as retry_waste_usd,
        fallback_premium_usd,

        -- timestamps
        requested_at,
        cast(requested_at as date) as request_date,
        first_attempt_at,
        last_attempt_ended_at

    from requests

)

select * from final
where {{ run_window('request_date') }}
