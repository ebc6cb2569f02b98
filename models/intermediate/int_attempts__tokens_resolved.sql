-- Both token counts of every attempt side by side, and the written rule that decides which one
-- is billed (seeds/token_authority_rules.csv: first matching rule by priority).
with


response_usage as (

    select * from {{ ref('stg_providers__response_usage') }}
    where {{ run_window('created_at', margin_days=1) }}

),

rules as (

    select * from {{ ref('token_authority_rules') }}

),

latest_deliveries as (

    -- a provider export may deliver the same response twice: keep the latest delivery
    -- (ranked on the key columns only; the record is joined back below)
    select
        provider_name,
        provider_response_id,
        source_file,
        source_line_number
    from (
        select
            provider_name,
            provider_response_id,
            source_file,
            source_line_number,
            row_number() over (
                partition by provider_name, provider_response_id
                order by landing_date desc, source_file desc, source_line_number desc
            ) as delivery_rank
        from {{ ref('stg_providers__response_usage') }}
        where {{ run_window('created_at', margin_days=1) }}
    ) as ranked
    where delivery_rank = 1

),

provider_records as (

    select response_usage.*
    from response_usage
    inner join latest_deliveries
        on response_usage.provider_name = latest_deliveries.provider_name
        and response_usage.provider_response_id = latest_deliveries.provider_response_id
        and response_usage.source_file = latest_deliveries.source_file
        and response_usage.source_line_number = latest_deliveries.source_line_number

),

rule_inputs as (

    -- what the authority rules look at, per attempt (narrow: the rules are matched per rule)
    select
        attempts.attempt_id,
        attempts.provider_id,
        attempts.started_at,
        attempts.is_usage_estimated,
        latest_deliveries.provider_response_id is not null as has_provider_record
    from {{ ref('int_attempts__unioned') }} as attempts
    left join latest_deliveries
        on attempts.provider_response_id = latest_deliveries.provider_response_id
        and attempts.provider_name = latest_deliveries.provider_name

),

joined as (

    select
        attempts.*,
        provider_records.provider_response_id is not null as has_provider_record,
        provider_records.uncached_input_tokens as provider_uncached_input_tokens,
        provider_records.cache_read_tokens as provider_cache_read_tokens,
        provider_records.cache_write_tokens as provider_cache_write_tokens,
        provider_records.cache_write_1h_tokens as provider_cache_write_1h_tokens,
        provider_records.output_tokens as provider_output_tokens,
        provider_records.reasoning_tokens as provider_reasoning_tokens,
        provider_records.input_audio_tokens as provider_input_audio_tokens,
        provider_records.output_audio_tokens as provider_output_audio_tokens,
        provider_records.service_tier as provider_service_tier,
        provider_records.provider_key_id as provider_record_key_id,
        provider_records.provider_project_id as provider_record_project_id
    from {{ ref('int_attempts__unioned') }} as attempts
    left join provider_records
        on attempts.provider_response_id = provider_records.provider_response_id
        and attempts.provider_name = provider_records.provider_name

),

ordered_rules as (

    -- the order rules are tried in, as one number: the first match is a min(),
    -- an aggregate (a window by attempt took 15 s of 43 s at 1M attempts)
    select
        *,
        row_number() over (order by priority, rule_id) as rule_order
    from rules

),

first_rules as (

    select
        rule_inputs.attempt_id,
        min(ordered_rules.rule_order) as rule_order
    from rule_inputs
    inner join ordered_rules
        on (
            ordered_rules.provider_id = '*'
            or ordered_rules.provider_id = rule_inputs.provider_id
        )
        and rule_inputs.started_at >= ordered_rules.effective_from
        and rule_inputs.started_at < ordered_rules.effective_to
        and case ordered_rules.condition
            when 'provider_record_present' then rule_inputs.has_provider_record
            when 'no_provider_record' then not rule_inputs.has_provider_record
            when 'gateway_estimated'
                then rule_inputs.is_usage_estimated and not rule_inputs.has_provider_record
            when 'always' then true
            else false
        end
    group by rule_inputs.attempt_id

),

rule_candidates as (

    select
        first_rules.attempt_id,
        ordered_rules.rule_id,
        ordered_rules.rule_version,
        ordered_rules.authoritative_source,
        ordered_rules.tolerance_pct,
        ordered_rules.rationale
    from first_rules
    inner join ordered_rules
        on first_rules.rule_order = ordered_rules.rule_order

),

decided as (

    select
        joined.*,
        rule_candidates.rule_id as authority_rule_id,
        rule_candidates.rule_version as authority_rule_version,
        rule_candidates.rationale as authority_rationale,
        rule_candidates.tolerance_pct,
        case
            when rule_candidates.authoritative_source = 'provider'
                and joined.has_provider_record
                then 'provider'
            else 'gateway'
        end as authoritative_source
    from joined
    left join rule_candidates
        on joined.attempt_id = rule_candidates.attempt_id

),

final as (

    select
        decided.*,
        -- the billed counts; NULL where the authoritative side did not report that type
        case authoritative_source
            when 'provider' then provider_uncached_input_tokens
            else gateway_uncached_input_tokens
        end as uncached_input_tokens,
        case authoritative_source
            when 'provider' then provider_cache_read_tokens
            else gateway_cache_read_tokens
        end as cache_read_tokens,
        case authoritative_source
            when 'provider' then provider_cache_write_tokens
            else gateway_cache_write_tokens
        end as cache_write_tokens,
        case authoritative_source
            when 'provider' then provider_cache_write_1h_tokens
            -- the gateway never sees the cache-write duration: all writes are 5-minute ones
            else 0
        end as cache_write_1h_tokens,
        case authoritative_source
            when 'provider' then provider_output_tokens
            else gateway_output_tokens
        end as output_tokens,
        case authoritative_source
            when 'provider' then provider_reasoning_tokens
            else coalesce(gateway_reasoning_tokens, 0)
        end as reasoning_tokens,
        case authoritative_source
            when 'provider' then provider_input_audio_tokens
            else 0
        end as input_audio_tokens,
        case authoritative_source
            when 'provider' then provider_output_audio_tokens
            else 0
        end as output_audio_tokens,
        -- agreement of the two counts, per token type the gateway reported
        case
            when not has_provider_record
                or (gateway_input_tokens is null and gateway_output_tokens is null)
                then 'single_source'
            when {{ within_tolerance(
                    'gateway_input_tokens',
                    'provider_uncached_input_tokens + provider_cache_read_tokens'
                    ~ ' + provider_cache_write_tokens',
                    'tolerance_pct') }}
                and {{ within_tolerance(
                    'gateway_output_tokens', 'provider_output_tokens', 'tolerance_pct') }}
                and {{ within_tolerance(
                    'gateway_cache_read_tokens', 'provider_cache_read_tokens',
                    'tolerance_pct') }}
                and {{ within_tolerance(
                    'gateway_cache_write_tokens', 'provider_cache_write_tokens',
                    'tolerance_pct') }}
                then 'agree'
            else 'disagree'
        end as agreement_status
    from decided

)

select * from final
