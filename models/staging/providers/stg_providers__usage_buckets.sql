-- OpenAI input_tokens includes input_cached_tokens; Anthropic reports uncached input,
-- cache reads and the two cache-write durations separately.
with

source as (

    select * from {{ source('providers', 'provider_usage_buckets') }}

),

renamed as (

    select
        -- ids
        coalesce(project_id, workspace_id) as provider_project_id,
        api_key_id as provider_key_id,

        -- dimensions
        provider as provider_name,
        model as response_model,
        coalesce(batch, false) as is_batch,
        {{ normalize_service_tier('service_tier') }} as service_tier,
        context_window,

        -- numerics
        case provider
            when 'openai' then input_tokens - coalesce(input_cached_tokens, 0)
            else uncached_input_tokens
        end as uncached_input_tokens,
        case provider
            when 'openai' then coalesce(input_cached_tokens, 0)
            else coalesce(cache_read_input_tokens, 0)
        end as cache_read_tokens,
        coalesce(cache_creation_ephemeral_5m_input_tokens, 0)
        + coalesce(cache_creation_ephemeral_1h_input_tokens, 0) as cache_write_tokens,
        coalesce(cache_creation_ephemeral_1h_input_tokens, 0) as cache_write_1h_tokens,
        output_tokens,
        coalesce(input_audio_tokens, 0) as input_audio_tokens,
        coalesce(output_audio_tokens, 0) as output_audio_tokens,
        num_model_requests as request_count,

        -- timestamps
        {{ to_utc('bucket_start_time') }} as bucket_started_at,
        {{ to_utc('bucket_end_time') }} as bucket_ended_at,

        -- lineage
        result_json,
        _source_file as source_file,
        _record_path as source_record_path,
        _landing_date as landing_date

    from source

)

select * from renamed
