-- What the providers' usage reports say (OpenAI usage API buckets, Anthropic usage report)
-- against the warehouse's billed tokens for the same day x project x API key x model x batch x
-- service tier. A difference is shown per token type, never assumed away: the usage API has
-- been seen reporting 0 cached tokens on days when the responses reported cached tokens.
with

buckets as (

    select * from {{ ref('stg_providers__usage_buckets') }}

),

attempts as (

    select * from {{ ref('fct_gateway_attempts') }}

),

provider_aliases as (

    select * from {{ ref('provider_aliases') }}

),

reported as (

    select
        coalesce(provider_aliases.provider_id, buckets.provider_name) as provider_id,
        cast(buckets.bucket_started_at as date) as usage_date,
        buckets.provider_project_id,
        buckets.provider_key_id,
        buckets.response_model as model,
        buckets.is_batch,
        buckets.service_tier,
        sum(buckets.request_count) as request_count,
        sum(buckets.uncached_input_tokens) as uncached_input_tokens,
        sum(buckets.cache_read_tokens) as cache_read_tokens,
        sum(buckets.cache_write_tokens) as cache_write_tokens,
        sum(buckets.output_tokens) as output_tokens
    from buckets
    left join provider_aliases
        on buckets.provider_name = provider_aliases.provider_name
    group by 1, 2, 3, 4, 5, 6, 7

),

reported_days as (

    select distinct provider_id, usage_date from reported

),

warehouse as (

    select
        attempts.provider_id,
        attempts.attempt_date as usage_date,
        attempts.provider_project_id,
        attempts.provider_key_id,
        attempts.resolved_model as model,
        attempts.is_batch,
        attempts.service_tier,
        count(*) as request_count,
        sum(attempts.uncached_input_tokens) as uncached_input_tokens,
        sum(attempts.cache_read_tokens) as cache_read_tokens,
        sum(attempts.cache_write_tokens) as cache_write_tokens,
        sum(attempts.output_tokens) as output_tokens
    from attempts
    inner join (select distinct provider_id from reported) as reporting_providers
        on attempts.provider_id = reporting_providers.provider_id
    where attempts.is_success
    group by 1, 2, 3, 4, 5, 6, 7

),

compared as (

    select
        coalesce(reported.provider_id, warehouse.provider_id) as provider_id,
        coalesce(reported.usage_date, warehouse.usage_date) as usage_date,
        coalesce(
            reported.provider_project_id, warehouse.provider_project_id
        ) as provider_project_id,
        coalesce(reported.provider_key_id, warehouse.provider_key_id) as provider_key_id,
        coalesce(reported.model, warehouse.model) as model,
        coalesce(reported.is_batch, warehouse.is_batch) as is_batch,
        coalesce(reported.service_tier, warehouse.service_tier) as service_tier,
        reported.provider_id is not null as is_reported,
        warehouse.provider_id is not null as is_in_warehouse,
        reported.request_count as reported_request_count,
        warehouse.request_count as warehouse_request_count,
        reported.uncached_input_tokens as reported_uncached_input_tokens,
        warehouse.uncached_input_tokens as warehouse_uncached_input_tokens,
        reported.cache_read_tokens as reported_cache_read_tokens,
        warehouse.cache_read_tokens as warehouse_cache_read_tokens,
        reported.cache_write_tokens as reported_cache_write_tokens,
        warehouse.cache_write_tokens as warehouse_cache_write_tokens,
        reported.output_tokens as reported_output_tokens,
        warehouse.output_tokens as warehouse_output_tokens
    from reported
    full outer join warehouse
        on reported.provider_id = warehouse.provider_id
        and reported.usage_date = warehouse.usage_date
        and reported.provider_project_id = warehouse.provider_project_id
        and reported.provider_key_id = warehouse.provider_key_id
        and reported.model = warehouse.model
        and reported.is_batch = warehouse.is_batch
        and reported.service_tier = warehouse.service_tier

),

final as (

    select
        {{ dbt.hash(
            "compared.provider_id || '|' || cast(compared.usage_date as " ~ dbt.type_string() ~ ")"
            ~ " || '|' || coalesce(compared.provider_project_id, '')"
            ~ " || '|' || coalesce(compared.provider_key_id, '')"
            ~ " || '|' || coalesce(compared.model, '')"
            ~ " || '|' || cast(compared.is_batch as " ~ dbt.type_string() ~ ") || '|' || compared.service_tier"
        ) }} as usage_reconciliation_key,
        compared.*,
        compared.reported_uncached_input_tokens - compared.warehouse_uncached_input_tokens
            as uncached_input_tokens_difference,
        compared.reported_cache_read_tokens - compared.warehouse_cache_read_tokens
            as cache_read_tokens_difference,
        compared.reported_cache_write_tokens - compared.warehouse_cache_write_tokens
            as cache_write_tokens_difference,
        compared.reported_output_tokens - compared.warehouse_output_tokens
            as output_tokens_difference,
        case
            when not compared.is_reported and reported_days.provider_id is null
                then 'awaiting_provider_report'
            when not compared.is_reported then 'missing_in_provider_report'
            when not compared.is_in_warehouse then 'missing_in_warehouse'
            when compared.reported_uncached_input_tokens
                is not distinct from compared.warehouse_uncached_input_tokens
                and compared.reported_cache_read_tokens
                is not distinct from compared.warehouse_cache_read_tokens
                and compared.reported_cache_write_tokens
                is not distinct from compared.warehouse_cache_write_tokens
                and compared.reported_output_tokens
                is not distinct from compared.warehouse_output_tokens
                -- the Anthropic report has no request count: compare it where there is one
                and (
                    compared.reported_request_count is null
                    or compared.reported_request_count = compared.warehouse_request_count
                )
                then 'match'
            else 'mismatch'
        end as reconciliation_status,
        nullif(concat_ws(', ',
            case when compared.reported_request_count <> compared.warehouse_request_count
                then 'requests' end,
            case when compared.reported_uncached_input_tokens
                <> compared.warehouse_uncached_input_tokens then 'uncached_input_tokens' end,
            case when compared.reported_cache_read_tokens
                <> compared.warehouse_cache_read_tokens then 'cache_read_tokens' end,
            case when compared.reported_cache_write_tokens
                <> compared.warehouse_cache_write_tokens then 'cache_write_tokens' end,
            case when compared.reported_output_tokens
                <> compared.warehouse_output_tokens then 'output_tokens' end
        ), '') as differing_fields
    from compared
    left join reported_days
        on compared.provider_id = reported_days.provider_id
        and compared.usage_date = reported_days.usage_date

)

select * from final
