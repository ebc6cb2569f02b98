-- Token split, per provider shape:
--   openai:    prompt_tokens includes cached; no cache writes; reasoning inside completion
--   anthropic: input_tokens is uncached only; cache reads/writes are separate
--   google:    promptTokenCount includes cached; thoughts are billed as output
with

source as (

    select * from {{ source('providers', 'provider_response_usage') }}

),

renamed as (

    select
        -- ids
        response_id as provider_response_id,
        project_id as provider_project_id,
        api_key_id as provider_key_id,

        -- dimensions
        lower(provider) as provider_name,
        model as response_model,
        {{ normalize_service_tier('service_tier') }} as service_tier,
        coalesce(batch, false) as is_batch,

        -- numerics
        case lower(provider)
            when 'openai'
                then usage_prompt_tokens - coalesce(usage_prompt_cached_tokens, 0)
            when 'anthropic' then usage_input_tokens
            when 'google'
                then usage_prompt_token_count
                - coalesce(usage_cached_content_token_count, 0)
        end as uncached_input_tokens,
        case lower(provider)
            when 'openai' then coalesce(usage_prompt_cached_tokens, 0)
            when 'anthropic' then coalesce(usage_cache_read_input_tokens, 0)
            when 'google' then coalesce(usage_cached_content_token_count, 0)
        end as cache_read_tokens,
        case lower(provider)
            when 'anthropic' then coalesce(usage_cache_creation_input_tokens, 0)
            else 0
        end as cache_write_tokens,
        case lower(provider)
            when 'anthropic'
                then coalesce(usage_cache_creation_1h_input_tokens, 0)
            else 0
        end as cache_write_1h_tokens,
        case lower(provider)
            when 'openai' then usage_completion_tokens
            when 'anthropic' then usage_output_tokens
            when 'google'
                then coalesce(usage_candidates_token_count, 0)
                + coalesce(usage_thoughts_token_count, 0)
        end as output_tokens,
        case lower(provider)
            when 'openai'
                then coalesce(usage_completion_reasoning_tokens, 0)
            when 'google' then coalesce(usage_thoughts_token_count, 0)
            else 0
        end as reasoning_tokens,
        coalesce(usage_prompt_audio_tokens, 0) as input_audio_tokens,
        coalesce(usage_completion_audio_tokens, 0) as output_audio_tokens,

        -- timestamps
        {{ to_utc('created_at') }} as created_at,

        -- lineage
        _source_file as source_file,
        _line_number as source_line_number,
        _landing_date as landing_date

    from source

)

select * from renamed
