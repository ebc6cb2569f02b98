with

source as (

    select * from {{ source('gateway', 'gateway_spans') }}

),

renamed as (

    select
        -- ids
        trace_id,
        span_id,
        parent_span_id,
        app_request_id,
        response_id as provider_response_id,
        gateway_key_id,
        provider_key_id,
        provider_project_id,
        tenant_header as header_tenant_id,

        -- dimensions
        case span_kind
            when 2 then 'server'
            when 3 then 'client'
            else 'other'
        end as span_kind,
        span_name,
        operation_name,
        lower(provider_name) as provider_name,
        request_model,
        response_model,
        route_name,
        routing_decision,
        routing_reason,
        service_tier,
        {{ normalize_error_type('error_type') }} as error_type,
        http_status_code,
        status_code as otel_status_code,
        attempt_number,
        coalesce(is_batch, false) as is_batch,
        coalesce(is_stream, false) as is_stream,
        coalesce(is_usage_estimated, false) as is_usage_estimated,
        service_name,
        scope_name,
        scope_version,

        -- numerics: gateway counts; NULL = this instrumentation did not report it
        input_tokens,
        cache_read_input_tokens as cache_read_tokens,
        -- instrumentations that report cache reads report cache writes only when the provider
        -- returned some (OpenAI and Gemini have none): reads known, writes absent = 0 writes.
        -- With no cache attribute at all the split stays unknown.
        coalesce(
            cache_creation_input_tokens,
            case when cache_read_input_tokens is not null then 0 end
        ) as cache_write_tokens,
        -- input_tokens includes cache reads and writes (semconv 1.41): the uncached part is
        -- only known when the cache counts are
        input_tokens
        - cache_read_input_tokens
        - coalesce(
            cache_creation_input_tokens,
            case when cache_read_input_tokens is not null then 0 end
        ) as uncached_input_tokens,
        output_tokens,
        reasoning_output_tokens as reasoning_tokens,
        total_tokens,

        -- timestamps
        {{ epoch_nanos_to_timestamp('start_time_unix_nano') }} as started_at,
        {{ epoch_nanos_to_timestamp('end_time_unix_nano') }} as ended_at,
        {{ integer_divide('end_time_unix_nano - start_time_unix_nano', 1000000) }}
            as duration_ms,

        -- lineage
        _source_file as source_file,
        _line_number as source_line_number,
        _landing_date as landing_date

    from source

)

select * from renamed
