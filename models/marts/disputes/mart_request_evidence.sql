-- The evidence trail of every request, one line per (request, attempt): the application
-- request, the upstream attempt, both token counts and the authority rule that decided, the
-- price-book row used, the cost, the statement line the attempt rolled into, and where each
-- record came from (landing file and line). A request no gateway saw has one line without an
-- attempt. `ai-chargeback explain` prints the same trail for one id.
with

requests as (

    select * from {{ ref('fct_ai_requests') }}

),

attempts as (

    select * from {{ ref('fct_gateway_attempts') }}

),

price_book as (

    select * from {{ ref('dim_price_book') }}

),

authority_rules as (

    select * from {{ ref('token_authority_rules') }}

),

statement_lines as (

    select * from {{ ref('mart_chargeback_monthly') }}

),

app_requests as (

    select * from {{ ref('stg_app__requests') }}

),

response_usage as (

    select * from {{ ref('stg_providers__response_usage') }}

),

app_request_deliveries as (

    -- the delivery the warehouse used: the latest, as in int_app_requests__deduplicated
    select
        app_request_id,
        source_file,
        source_line_number,
        landing_date,
        row_number() over (
            partition by app_request_id
            order by landing_date desc, source_file desc, source_line_number desc
        ) as delivery_rank
    from app_requests

),

provider_records as (

    -- the provider record the warehouse used: the latest delivery, as in
    -- int_attempts__tokens_resolved; audio counts only the provider reports
    select
        provider_name,
        provider_response_id,
        input_audio_tokens,
        output_audio_tokens,
        source_file,
        source_line_number,
        landing_date,
        row_number() over (
            partition by provider_name, provider_response_id
            order by landing_date desc, source_file desc, source_line_number desc
        ) as delivery_rank
    from response_usage

),

attempt_lines as (

    select
        attempts.*,
        cast({{ dbt.date_trunc('month', 'attempts.started_at') }} as date)
            as billing_month,
        -- the statement line rules of mart_chargeback_monthly (a relationships test keeps the
        -- two in step)
        case
            when attempts.pricing_status = 'unpriced' then 'unpriced'
            when attempts.is_final_attempt then 'usage'
            else 'retry_waste'
        end as statement_line_type,
        coalesce(attempts.model_id, attempts.resolved_model) as statement_model_id,
        coalesce(attempts.workload, '(none)') as statement_workload,
        case
            when attempts.authoritative_source = 'provider'
                then coalesce(provider_records.input_audio_tokens, 0)
            else 0
        end as input_audio_tokens,
        case
            when attempts.authoritative_source = 'provider'
                then coalesce(provider_records.output_audio_tokens, 0)
            else 0
        end as output_audio_tokens,
        provider_records.source_file as provider_record_source_file,
        provider_records.source_line_number as provider_record_source_line_number
    from attempts
    left join provider_records
        on attempts.provider_name = provider_records.provider_name
        and attempts.provider_response_id = provider_records.provider_response_id
        and attempts.has_provider_record
        and provider_records.delivery_rank = 1

),

priced_lines as (

    select
        attempt_lines.*,
        price_book.price_key,
        price_book.model_name as price_model_name,
        price_book.time_of_day_from_second as price_time_of_day_from_second,
        price_book.time_of_day_to_second as price_time_of_day_to_second,
        price_book.input_mtok,
        price_book.cache_read_mtok,
        price_book.cache_write_mtok,
        price_book.cache_write_1h_mtok,
        price_book.input_audio_mtok,
        price_book.output_mtok,
        price_book.output_audio_mtok,
        price_book.output_reasoning_mtok,
        price_book.input_audio_price_per_token,
        price_book.output_audio_price_per_token,
        price_book.output_reasoning_price_per_token,
        price_book.source as price_source
    from attempt_lines
    left join price_book
        on attempt_lines.price_book_provider_id = price_book.provider_id
        and attempt_lines.model_id = price_book.model_id
        and attempt_lines.price_service_tier = price_book.service_tier
        and attempt_lines.price_processing = price_book.processing
        and attempt_lines.price_effective_from = price_book.effective_from
        and attempt_lines.tier_min_input_tokens = price_book.tier_min_input_tokens
        and {{ second_of_day('attempt_lines.started_at') }}
        >= price_book.time_of_day_from_second
        and {{ second_of_day('attempt_lines.started_at') }}
        < price_book.time_of_day_to_second

),

joined as (

    select
        -- ids
        {{ dbt.hash(
            "requests.request_id || '|' || coalesce(priced_lines.attempt_id, '')"
        ) }} as evidence_line_key,
        requests.request_id,
        priced_lines.attempt_id,
        requests.app_request_id,
        priced_lines.gateway_request_id,
        coalesce(priced_lines.trace_id, requests.trace_id) as trace_id,
        priced_lines.provider_response_id,
        requests.tenant_id,
        requests.user_hash,
        priced_lines.provider_key_id,
        priced_lines.provider_project_id,
        priced_lines.price_key,
        priced_lines.authority_rule_id,
        usage_lines.statement_line_key,
        remainder_lines.statement_line_key as remainder_statement_line_key,

        -- the application request
        requests.attribution_source,
        requests.workload,
        requests.feature,
        requests.prompt_template_id,
        requests.prompt_template_version,
        requests.expected_route,
        requests.expected_model,
        requests.expected_model_id,
        requests.routing_decisions,
        requests.has_app_request,
        requests.has_gateway_traffic,
        requests.is_late_arrival,
        requests.pricing_status as request_pricing_status,
        requests.pricing_reason as request_pricing_reason,
        requests.attempt_count as request_attempt_count,
        requests.retry_count as request_retry_count,
        requests.fallback_count as request_fallback_count,

        -- the upstream attempt and its routing
        priced_lines.gateway,
        priced_lines.route_name,
        priced_lines.attempt_number,
        priced_lines.routing_decision,
        priced_lines.routing_reason,
        priced_lines.is_retry,
        priced_lines.is_fallback,
        priced_lines.is_final_attempt,
        priced_lines.provider_id,
        priced_lines.provider_name,
        priced_lines.requested_model,
        priced_lines.resolved_model,
        priced_lines.model_id,
        priced_lines.service_tier,
        priced_lines.is_batch,
        priced_lines.is_stream,
        priced_lines.is_usage_estimated,
        priced_lines.is_success,
        priced_lines.http_status_code,
        priced_lines.error_type,

        -- the token authority rule that decided
        priced_lines.has_provider_record,
        priced_lines.authority_rule_version,
        authority_rules.priority as authority_rule_priority,
        authority_rules.condition as authority_rule_condition,
        authority_rules.tolerance_pct as authority_tolerance_pct,
        authority_rules.rationale as authority_rationale,
        priced_lines.authoritative_source,
        priced_lines.agreement_status,

        -- tokens: the gateway's count, the provider's count, the billed count
        priced_lines.gateway_input_tokens,
        priced_lines.gateway_uncached_input_tokens,
        priced_lines.gateway_cache_read_tokens,
        priced_lines.gateway_cache_write_tokens,
        priced_lines.gateway_output_tokens,
        priced_lines.gateway_reasoning_tokens,
        priced_lines.provider_uncached_input_tokens,
        priced_lines.provider_cache_read_tokens,
        priced_lines.provider_cache_write_tokens,
        priced_lines.provider_cache_write_1h_tokens,
        priced_lines.provider_output_tokens,
        priced_lines.provider_reasoning_tokens,
        priced_lines.uncached_input_tokens,
        priced_lines.cache_read_tokens,
        priced_lines.cache_write_tokens,
        priced_lines.cache_write_1h_tokens,
        priced_lines.input_audio_tokens,
        priced_lines.input_tokens,
        priced_lines.output_tokens,
        priced_lines.output_audio_tokens,
        priced_lines.reasoning_tokens,

        -- the price-book row used
        priced_lines.price_book_provider_id,
        priced_lines.price_model_name,
        priced_lines.price_service_tier,
        priced_lines.price_processing,
        priced_lines.price_effective_from,
        priced_lines.price_effective_to,
        priced_lines.price_time_of_day_from_second,
        priced_lines.price_time_of_day_to_second,
        priced_lines.tier_min_input_tokens,
        priced_lines.price_source,
        priced_lines.input_mtok,
        priced_lines.cache_read_mtok,
        priced_lines.cache_write_mtok,
        priced_lines.cache_write_1h_mtok,
        priced_lines.input_audio_mtok,
        priced_lines.output_mtok,
        priced_lines.output_audio_mtok,
        priced_lines.output_reasoning_mtok,
        priced_lines.input_price_per_token,
        priced_lines.cache_read_price_per_token,
        priced_lines.cache_write_price_per_token,
        priced_lines.cache_write_1h_price_per_token,
        priced_lines.input_audio_price_per_token,
        priced_lines.output_price_per_token,
        priced_lines.output_audio_price_per_token,
        priced_lines.output_reasoning_price_per_token,
        priced_lines.contract_id,
        priced_lines.discount_pct,

        -- cost
        priced_lines.pricing_status as attempt_pricing_status,
        priced_lines.pricing_reason as attempt_pricing_reason,
        case
            when priced_lines.price_key is not null
                then {{ token_cost('priced_lines', 'priced_lines') }}
        end as recomputed_list_cost_usd,
        priced_lines.list_cost_usd,
        priced_lines.effective_cost_usd,
        requests.list_cost_usd as request_list_cost_usd,
        requests.effective_cost_usd as request_effective_cost_usd,
        requests.retry_waste_usd as request_retry_waste_usd,
        requests.fallback_premium_usd as request_fallback_premium_usd,

        -- the statement line
        priced_lines.billing_month,
        priced_lines.statement_line_type,
        usage_lines.amount_exact_usd as statement_line_amount_exact_usd,
        usage_lines.amount_usd as statement_line_amount_usd,

        -- timestamps
        requests.requested_at,
        priced_lines.started_at as attempt_started_at,
        priced_lines.ended_at as attempt_ended_at,
        priced_lines.duration_ms as attempt_duration_ms,

        -- lineage
        app_request_deliveries.source_file as app_request_source_file,
        app_request_deliveries.source_line_number as app_request_source_line_number,
        app_request_deliveries.landing_date as app_request_landing_date,
        priced_lines.source_file as attempt_source_file,
        priced_lines.source_line_number as attempt_source_line_number,
        priced_lines.provider_record_source_file,
        priced_lines.provider_record_source_line_number

    from requests
    left join priced_lines
        on requests.request_id = priced_lines.request_id
    left join authority_rules
        on priced_lines.authority_rule_id = authority_rules.rule_id
        and priced_lines.authority_rule_version = authority_rules.rule_version
    left join statement_lines as usage_lines
        on priced_lines.tenant_id = usage_lines.tenant_id
        and priced_lines.billing_month = usage_lines.billing_month
        and priced_lines.provider_id = usage_lines.provider_id
        and priced_lines.statement_line_type = usage_lines.line_type
        and priced_lines.statement_model_id is not distinct from usage_lines.model_id
        and priced_lines.statement_workload = usage_lines.workload
        and usage_lines.provider_project_id is null
    left join statement_lines as remainder_lines
        on priced_lines.tenant_id = remainder_lines.tenant_id
        and priced_lines.billing_month = remainder_lines.billing_month
        and priced_lines.provider_id = remainder_lines.provider_id
        and priced_lines.provider_project_id = remainder_lines.provider_project_id
        and remainder_lines.line_type = 'allocated_remainder'
    left join app_request_deliveries
        on requests.app_request_id = app_request_deliveries.app_request_id
        and app_request_deliveries.delivery_rank = 1

),

final as (

    select * from joined

)

select * from final
