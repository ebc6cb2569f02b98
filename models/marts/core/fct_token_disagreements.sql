-- Every attempt with both a gateway and a provider count: both counts per token type, the
-- difference, the rule that decided and what the choice is worth.
with

attempts as (

    select * from {{ ref('fct_gateway_attempts') }}

),

both_counts as (

    select *
    from attempts
    where has_provider_record
        and (gateway_input_tokens is not null or gateway_output_tokens is not null)

),

final as (

    select
        -- ids
        attempt_id,
        request_id,
        tenant_id,
        provider_response_id,

        -- dimensions
        provider_id,
        model_id,
        gateway,
        is_usage_estimated,
        authority_rule_id,
        authority_rule_version,
        authoritative_source,
        agreement_status,

        -- numerics
        gateway_input_tokens,
        provider_uncached_input_tokens
        + provider_cache_read_tokens
        + provider_cache_write_tokens as provider_input_tokens,
        gateway_input_tokens
        - (
            provider_uncached_input_tokens
            + provider_cache_read_tokens
            + provider_cache_write_tokens
        ) as input_tokens_difference,
        gateway_cache_read_tokens,
        provider_cache_read_tokens,
        gateway_cache_read_tokens - provider_cache_read_tokens
            as cache_read_tokens_difference,
        gateway_cache_write_tokens,
        provider_cache_write_tokens,
        gateway_cache_write_tokens - provider_cache_write_tokens
            as cache_write_tokens_difference,
        gateway_output_tokens,
        provider_output_tokens,
        gateway_output_tokens - provider_output_tokens as output_tokens_difference,
        -- what billing the gateway's count instead would change (same price row)
        cast(
            (
                coalesce(
                    gateway_uncached_input_tokens,
                    gateway_input_tokens - provider_cache_read_tokens
                    - provider_cache_write_tokens
                )
                - provider_uncached_input_tokens
            ) * coalesce(input_price_per_token, 0)
            + (
                coalesce(gateway_cache_read_tokens, provider_cache_read_tokens)
                - provider_cache_read_tokens
            ) * coalesce(cache_read_price_per_token, 0)
            + (
                coalesce(gateway_cache_write_tokens, provider_cache_write_tokens)
                - provider_cache_write_tokens
            ) * coalesce(cache_write_price_per_token, 0)
            + (coalesce(gateway_output_tokens, provider_output_tokens) - provider_output_tokens)
            * coalesce(output_price_per_token, 0)
            as {{ money_type() }}
        ) as gateway_minus_provider_list_cost_usd,

        -- timestamps
        started_at,
        attempt_date

    from both_counts

)

select * from final
