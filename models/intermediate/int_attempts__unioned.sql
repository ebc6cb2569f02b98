-- One row per upstream attempt, from both gateways, in one shape. OTLP: every CLIENT span is an
-- attempt of the gateway request of its trace. LiteLLM: each spend-log row is one request with
-- one attempt (the legacy gateway does not log its retries).
with

-- Each step reads the span view itself (SERVER spans, the order of CLIENT spans, the CLIENT
-- spans) rather than one shared CTE: each reader takes only its columns, and no engine has to
-- hold every span's ~60 columns for a second reader. Windows rank narrow rows for the same
-- reason: at 10M attempts, windows over the wide rows spilled tens of GB past a 2 GB limit.
server_span_rows as (

    select
        trace_id,
        span_id,
        parent_span_id,
        app_request_id,
        gateway_key_id,
        route_name,
        started_at
    from {{ ref('stg_gateway__spans') }}
    where span_kind = 'server'
        and {{ run_window('started_at', margin_days=1) }}

),

spans as (

    select * from {{ ref('stg_gateway__spans') }}
    where span_kind = 'client'
        and {{ run_window('started_at', margin_days=1) }}

),

attempt_order as (

    -- the position of a CLIENT span in its trace, for spans without an attempt number
    -- ((trace_id, span_id) is unique: the loader quarantines repeated exports)
    select
        trace_id,
        span_id,
        row_number() over (partition by trace_id order by started_at, span_id)
            as trace_attempt_number
    from {{ ref('stg_gateway__spans') }}
    where span_kind = 'client'
        and {{ run_window('started_at', margin_days=1) }}

),

spend_logs as (

    select * from {{ ref('stg_gateway__spend_logs') }}
    where {{ run_window('started_at', margin_days=1) }}

),

provider_aliases as (

    select * from {{ ref('provider_aliases') }}

),

server_spans as (

    -- the gateway request of each trace: its root SERVER span
    select
        trace_id,
        app_request_id,
        gateway_key_id,
        route_name,
        row_number() over (
            partition by trace_id
            order by case when parent_span_id is null then 0 else 1 end, started_at, span_id
        ) as server_rank
    from server_span_rows

),

span_attempts as (

    select
        -- ids
        spans.span_id as attempt_id,
        'trace:' || spans.trace_id as gateway_request_id,
        spans.trace_id,
        spans.provider_response_id,
        spans.provider_key_id,
        spans.provider_project_id,
        server_spans.app_request_id,
        server_spans.gateway_key_id,

        -- dimensions
        'otel_gateway' as gateway,
        server_spans.route_name,
        spans.provider_name,
        spans.request_model,
        coalesce(spans.response_model, spans.request_model) as resolved_model,
        coalesce(spans.attempt_number, attempt_order.trace_attempt_number) as attempt_number,
        coalesce(spans.routing_decision, 'primary') as routing_decision,
        spans.routing_reason,
        {{ normalize_service_tier('spans.service_tier') }} as service_tier,
        spans.is_batch,
        spans.is_stream,
        spans.is_usage_estimated,
        spans.http_status_code,
        spans.error_type,
        spans.otel_status_code,

        -- numerics: the gateway's counts (NULL = unknown)
        spans.uncached_input_tokens as gateway_uncached_input_tokens,
        spans.cache_read_tokens as gateway_cache_read_tokens,
        spans.cache_write_tokens as gateway_cache_write_tokens,
        spans.input_tokens as gateway_input_tokens,
        spans.output_tokens as gateway_output_tokens,
        spans.reasoning_tokens as gateway_reasoning_tokens,

        -- timestamps
        spans.started_at,
        spans.ended_at,
        spans.duration_ms,

        -- lineage
        spans.source_file,
        spans.source_line_number
    from spans
    inner join attempt_order
        on spans.trace_id = attempt_order.trace_id
        and spans.span_id = attempt_order.span_id
    left join server_spans
        on spans.trace_id = server_spans.trace_id
        and server_spans.server_rank = 1

),

litellm_attempts as (

    select
        -- ids
        'litellm:' || spend_logs.provider_response_id as attempt_id,
        'litellm:' || spend_logs.provider_response_id as gateway_request_id,
        cast(null as {{ dbt.type_string() }}) as trace_id,
        spend_logs.provider_response_id,
        cast(null as {{ dbt.type_string() }}) as provider_key_id,
        cast(null as {{ dbt.type_string() }}) as provider_project_id,
        spend_logs.app_request_id,
        spend_logs.gateway_key_hash as gateway_key_id,

        -- dimensions
        'litellm' as gateway,
        spend_logs.request_model as route_name,
        spend_logs.provider_name,
        spend_logs.request_model,
        spend_logs.response_model as resolved_model,
        1 as attempt_number,
        'primary' as routing_decision,
        cast(null as {{ dbt.type_string() }}) as routing_reason,
        'default' as service_tier,
        false as is_batch,
        false as is_stream,
        false as is_usage_estimated,
        200 as http_status_code,
        cast(null as {{ dbt.type_string() }}) as error_type,
        cast(null as integer) as otel_status_code,

        -- numerics: LiteLLM does not split the cache, so the uncached part is unknown
        cast(null as bigint) as gateway_uncached_input_tokens,
        cast(null as bigint) as gateway_cache_read_tokens,
        cast(null as bigint) as gateway_cache_write_tokens,
        spend_logs.input_tokens as gateway_input_tokens,
        spend_logs.output_tokens as gateway_output_tokens,
        cast(null as bigint) as gateway_reasoning_tokens,

        -- timestamps
        spend_logs.started_at,
        spend_logs.ended_at,
        cast(null as bigint) as duration_ms,

        -- lineage
        spend_logs.source_file,
        spend_logs.source_line_number
    from spend_logs

),

unioned as (

    select * from span_attempts
    union all
    select * from litellm_attempts

),

final as (

    select
        unioned.*,
        -- the request an attempt belongs to: the application's id when the gateway got one,
        -- else the gateway's own request (an orphan)
        coalesce(
            unioned.app_request_id,
            case
                when unioned.gateway = 'litellm' then unioned.gateway_request_id
                else 'trace:' || unioned.trace_id
            end
        ) as request_id,
        coalesce(provider_aliases.provider_id, unioned.provider_name) as provider_id,
        case when unioned.is_batch then 'batch' else 'standard' end as processing,
        unioned.error_type is null
        and coalesce(unioned.http_status_code between 200 and 299, true)
        and coalesce(unioned.otel_status_code, 0) <> 2 as is_success
    from unioned
    left join provider_aliases
        on unioned.provider_name = provider_aliases.provider_name

)

select * from final
