-- Every attempt priced from its billed tokens and the price-book row effective at its start:
-- provider x canonical model x service tier x processing (batch), price period, time-of-day
-- window and prompt-length tier (highest tier_min_input_tokens <= total input). A tier or batch
-- price the model does not have falls back to 'default' / 'standard', as in genai-prices.
-- Then the contract discount in effect gives the effective cost.
-- The wide attempt rows are read once, in final: every step that is used more than once
-- (pricing decisions, price candidates, discounts) works on a narrow projection, so the engine
-- never materialises ~100 columns per attempt for a second reader (at 1M attempts the wide
-- version moved 43 GB through its intermediate results).
with

attempt_keys as (

    -- what pricing needs of an attempt
    select
        attempt_id,
        app_request_id,
        provider_name,
        provider_id,
        resolved_model,
        service_tier,
        processing,
        started_at,
        is_success,
        authoritative_source,
        uncached_input_tokens,
        cache_read_tokens,
        cache_write_tokens,
        cache_write_1h_tokens,
        input_audio_tokens,
        output_tokens,
        output_audio_tokens,
        reasoning_tokens
    from {{ ref('int_attempts__tokens_resolved') }}

),

models as (

    select * from {{ ref('int_models__resolved') }}

),

price_book as (

    select * from {{ ref('price_book') }}

),

price_overrides as (

    select * from {{ ref('price_overrides') }}

),

app_requests as (

    select * from {{ ref('int_app_requests__deduplicated') }}

),

with_model as (

    select
        attempt_keys.*,
        models.model_id,
        models.price_provider_id,
        models.is_fallback_provider,
        models.is_known_model,
        app_requests.expected_model,
        expected_models.model_id as expected_model_id,
        expected_models.price_provider_id as expected_price_provider_id,
        -- input as genai-prices counts it for tiers: cache reads and writes included
        attempt_keys.uncached_input_tokens
        + attempt_keys.cache_read_tokens
        + attempt_keys.cache_write_tokens as input_tokens,
        case
            when not attempt_keys.is_success and attempt_keys.uncached_input_tokens is null
                and attempt_keys.output_tokens is null
                then 'no_usage'
            when models.model_id is null then 'unpriced'
            when attempt_keys.uncached_input_tokens is null
                or attempt_keys.cache_read_tokens is null
                or attempt_keys.cache_write_tokens is null
                or attempt_keys.output_tokens is null
                then 'unpriced'
            else 'to_price'
        end as pre_status,
        case
            when models.model_id is null
                then 'unknown model: ' || coalesce(attempt_keys.resolved_model, '(none)')
            when attempt_keys.uncached_input_tokens is null
                or attempt_keys.cache_read_tokens is null
                or attempt_keys.cache_write_tokens is null
                then 'token split unknown: the ' || attempt_keys.authoritative_source
                || ' did not report cache tokens'
            when attempt_keys.output_tokens is null
                then 'output tokens not reported by the ' || attempt_keys.authoritative_source
        end as pre_reason
    from attempt_keys
    left join models
        on attempt_keys.provider_name is not distinct from models.provider_name
        and attempt_keys.resolved_model = models.model_string
    left join app_requests
        on attempt_keys.app_request_id = app_requests.app_request_id
    left join models as expected_models
        on expected_models.provider_name is null
        and app_requests.expected_model = expected_models.model_string

),

to_price as (

    -- each attempt is priced at its own model and, for the fallback premium, at the model the
    -- product expected (same tokens, time, service tier and processing)
    select
        attempt_id,
        'actual' as price_basis,
        price_provider_id,
        model_id,
        service_tier,
        processing,
        is_fallback_provider,
        started_at,
        input_tokens
    from with_model
    where pre_status = 'to_price'
    union all
    select
        attempt_id,
        'expected' as price_basis,
        expected_price_provider_id,
        expected_model_id,
        service_tier,
        processing,
        false as is_fallback_provider,
        started_at,
        input_tokens
    from with_model
    where pre_status = 'to_price'
        and expected_model_id is not null
        and expected_model_id <> model_id

),

price_candidates as (

    select
        to_price.attempt_id,
        to_price.price_basis,
        price_book.provider_id as price_book_provider_id,
        price_book.service_tier as price_service_tier,
        price_book.processing as price_processing,
        price_book.effective_from as price_effective_from,
        price_book.effective_to as price_effective_to,
        price_book.tier_min_input_tokens,
        price_book.input_price_per_token,
        price_book.cache_read_price_per_token,
        price_book.cache_write_price_per_token,
        price_book.cache_write_1h_price_per_token,
        price_book.input_audio_price_per_token,
        price_book.output_price_per_token,
        price_book.output_audio_price_per_token,
        price_book.output_reasoning_price_per_token,
        row_number() over (
            partition by to_price.attempt_id, to_price.price_basis
            order by
                case
                    when price_book.service_tier = to_price.service_tier then 0 else 1
                end,
                case when price_book.processing = to_price.processing then 0 else 1 end,
                price_book.tier_min_input_tokens desc
        ) as price_rank
    from to_price
    inner join price_book
        on to_price.price_provider_id = price_book.provider_id
        and to_price.model_id = price_book.model_id
        and to_price.started_at >= price_book.effective_from
        and to_price.started_at < price_book.effective_to
        and {{ second_of_day('to_price.started_at') }}
        >= price_book.time_of_day_from_second
        and {{ second_of_day('to_price.started_at') }}
        < price_book.time_of_day_to_second
        and price_book.tier_min_input_tokens <= to_price.input_tokens
        and (
            price_book.service_tier = 'default'
            or (
                price_book.service_tier = to_price.service_tier
                and not to_price.is_fallback_provider
            )
        )
        and (
            price_book.processing = 'standard'
            or (
                price_book.processing = to_price.processing
                and not to_price.is_fallback_provider
            )
        )

),

actual_prices as (

    select * from price_candidates
    where price_basis = 'actual' and price_rank = 1

),

expected_prices as (

    select * from price_candidates
    where price_basis = 'expected' and price_rank = 1

),

costs as (

    select
        with_model.attempt_id,
        with_model.model_id,
        with_model.price_provider_id,
        with_model.is_fallback_provider,
        with_model.is_known_model,
        with_model.expected_model,
        with_model.expected_model_id,
        with_model.expected_price_provider_id,
        with_model.input_tokens,
        with_model.pre_status,
        with_model.pre_reason,
        actual_prices.price_book_provider_id,
        actual_prices.price_service_tier,
        actual_prices.price_processing,
        actual_prices.price_effective_from,
        actual_prices.price_effective_to,
        actual_prices.tier_min_input_tokens,
        actual_prices.input_price_per_token,
        actual_prices.cache_read_price_per_token,
        actual_prices.cache_write_price_per_token,
        actual_prices.cache_write_1h_price_per_token,
        actual_prices.output_price_per_token,
        actual_prices.output_reasoning_price_per_token,
        case
            when with_model.pre_status = 'no_usage' then 'no_usage'
            when with_model.pre_status = 'unpriced' then 'unpriced'
            when actual_prices.attempt_id is null then 'unpriced'
            else 'priced'
        end as pricing_status,
        case
            when with_model.pre_status = 'no_usage'
                then 'failed attempt without usage: not billed'
            when with_model.pre_status = 'unpriced' then with_model.pre_reason
            when actual_prices.attempt_id is null
                then 'no price effective at ' || cast(with_model.started_at as {{ dbt.type_string() }})
                || ' for ' || with_model.price_provider_id || '/' || with_model.model_id
        end as pricing_reason,
        case
            when with_model.pre_status = 'no_usage'
                then cast(0 as {{ money_type() }})
            when actual_prices.attempt_id is not null
                then {{ token_cost('with_model', 'actual_prices') }}
        end as list_cost_usd,
        case
            when with_model.expected_model_id = with_model.model_id
                then {{ token_cost('with_model', 'actual_prices') }}
            when expected_prices.attempt_id is not null
                then {{ token_cost('with_model', 'expected_prices') }}
        end as expected_model_list_cost_usd
    from with_model
    left join actual_prices
        on with_model.attempt_id = actual_prices.attempt_id
    left join expected_prices
        on with_model.attempt_id = expected_prices.attempt_id

),

discounts as (

    select
        with_model.attempt_id,
        price_overrides.contract_id,
        price_overrides.discount_pct,
        row_number() over (
            partition by with_model.attempt_id
            order by
                case when price_overrides.model_id = '*' then 1 else 0 end,
                price_overrides.effective_from desc
        ) as discount_rank
    from with_model
    inner join price_overrides
        on with_model.provider_id = price_overrides.provider_id
        and (
            price_overrides.model_id = '*' or price_overrides.model_id = with_model.model_id
        )
        and with_model.started_at >= price_overrides.effective_from
        and with_model.started_at < price_overrides.effective_to

),

final as (

    select
        attempts.*,
        costs.model_id,
        costs.price_provider_id,
        costs.is_fallback_provider,
        costs.is_known_model,
        costs.expected_model,
        costs.expected_model_id,
        costs.expected_price_provider_id,
        costs.input_tokens,
        costs.pre_status,
        costs.pre_reason,
        costs.price_book_provider_id,
        costs.price_service_tier,
        costs.price_processing,
        costs.price_effective_from,
        costs.price_effective_to,
        costs.tier_min_input_tokens,
        costs.input_price_per_token,
        costs.cache_read_price_per_token,
        costs.cache_write_price_per_token,
        costs.cache_write_1h_price_per_token,
        costs.output_price_per_token,
        costs.output_reasoning_price_per_token,
        costs.pricing_status,
        costs.pricing_reason,
        costs.list_cost_usd,
        costs.expected_model_list_cost_usd,
        discounts.contract_id,
        coalesce(discounts.discount_pct, 0) as discount_pct,
        cast(
            costs.list_cost_usd
            * (100 - coalesce(discounts.discount_pct, 0))
            * cast(0.01 as decimal(3, 2))
            as {{ money_type() }}
        ) as effective_cost_usd
    from {{ ref('int_attempts__tokens_resolved') }} as attempts
    inner join costs
        on attempts.attempt_id = costs.attempt_id
    left join discounts
        on attempts.attempt_id = discounts.attempt_id
        and discounts.discount_rank = 1

)

select * from final
