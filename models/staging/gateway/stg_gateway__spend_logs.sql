with

source as (

    select * from {{ source('gateway', 'gateway_spend_logs') }}

),

renamed as (

    select
        -- ids
        request_id as provider_response_id,
        {{ json_text('metadata', ['spend_logs_metadata', 'app_request_id']) }}
            as app_request_id,
        api_key as gateway_key_hash,
        team_id,
        litellm_user as gateway_user,
        end_user,

        -- dimensions
        call_type,
        model as response_model,
        model_group as request_model,
        lower(custom_llm_provider) as provider_name,
        api_base,
        request_tags,
        lower(cache_hit) = 'true' as is_cache_hit,

        -- numerics: prompt_tokens includes cached tokens; LiteLLM does not split the cache
        prompt_tokens as input_tokens,
        completion_tokens as output_tokens,
        total_tokens,
        spend as gateway_estimated_spend_usd,

        -- timestamps
        {{ to_utc('start_time') }} as started_at,
        {{ to_utc('end_time') }} as ended_at,

        -- lineage
        _source_file as source_file,
        _line_number as source_line_number,
        _landing_date as landing_date

    from source

)

select * from renamed
