-- One row per request: every application request, plus every gateway request that no
-- application request claims (orphans, keyed by their trace or LiteLLM id). Attempts are rolled
-- up by request; the tenant comes from the application log, else from the key valid at the
-- request's time (rotation windows), else 'unattributed' -- never dropped.
with

app_requests as (

    select * from {{ ref('int_app_requests__deduplicated') }}

),

attempts as (

    select * from {{ ref('int_attempts__priced') }}

),

api_keys as (

    select * from {{ ref('stg_directory__api_keys') }}

),

ranked_attempts as (

    select
        *,
        pricing_status <> 'no_usage'
        and (
            uncached_input_tokens is null
            or cache_read_tokens is null
            or cache_write_tokens is null
        ) as has_unknown_split,
        row_number() over (
            partition by request_id order by started_at desc, attempt_number desc
        ) as reverse_rank,
        row_number() over (
            partition by request_id order by started_at, attempt_number
        ) as forward_rank
    from attempts

),

rolled_up as (

    select
        request_id as gateway_request_key,
        count(*) as attempt_count,
        count(distinct gateway_request_id) as gateway_request_count,
        sum(case when routing_decision like 'retry%' then 1 else 0 end) as retry_count,
        sum(case when routing_decision like 'fallback%' then 1 else 0 end) as fallback_count,
        sum(case when not is_success then 1 else 0 end) as failed_attempt_count,
        {{ dbt.listagg("routing_decision", "' > '", "order by forward_rank") }}
            as routing_decisions,
        min(started_at) as first_attempt_at,
        max(ended_at) as last_attempt_ended_at,
        sum(case when pricing_status = 'unpriced' then 1 else 0 end) as unpriced_attempt_count,
        min(case when pricing_status = 'unpriced' then pricing_reason end) as unpriced_reason,
        sum(
            case when agreement_status = 'disagree' then 1 else 0 end
        ) as disagreeing_attempt_count,
        sum(case when is_usage_estimated then 1 else 0 end) as estimated_attempt_count,
        -- a split nobody reported stays unknown for the whole request (NULL, not 0)
        case
            when sum(case when has_unknown_split then 1 else 0 end) = 0
                then sum(coalesce(uncached_input_tokens, 0))
        end as uncached_input_tokens,
        case
            when sum(case when has_unknown_split then 1 else 0 end) = 0
                then sum(coalesce(cache_read_tokens, 0))
        end as cache_read_tokens,
        case
            when sum(case when has_unknown_split then 1 else 0 end) = 0
                then sum(coalesce(cache_write_tokens, 0))
        end as cache_write_tokens,
        sum(
            coalesce(input_tokens, gateway_input_tokens, 0)
        ) as input_tokens,
        sum(coalesce(output_tokens, 0)) as output_tokens,
        sum(coalesce(reasoning_tokens, 0)) as reasoning_tokens,
        sum(list_cost_usd) as priced_list_cost_usd,
        sum(effective_cost_usd) as priced_effective_cost_usd,
        sum(
            case when reverse_rank > 1 then effective_cost_usd end
        ) as retry_waste_usd
    from ranked_attempts
    group by request_id

),

final_attempts as (

    select * from ranked_attempts where reverse_rank = 1

),

gateway_requests as (

    select
        rolled_up.*,
        final_attempts.gateway,
        final_attempts.trace_id,
        final_attempts.gateway_request_id as final_gateway_request_id,
        final_attempts.app_request_id as gateway_app_request_id,
        final_attempts.gateway_key_id,
        final_attempts.provider_key_id as final_provider_key_id,
        final_attempts.provider_project_id as final_provider_project_id,
        final_attempts.route_name,
        final_attempts.request_model as final_requested_model,
        final_attempts.provider_id as final_provider_id,
        final_attempts.resolved_model as final_resolved_model,
        final_attempts.model_id as final_model_id,
        final_attempts.is_success as is_final_attempt_success,
        final_attempts.is_batch,
        final_attempts.service_tier,
        final_attempts.expected_model_id,
        final_attempts.pricing_status as final_pricing_status,
        case
            when final_attempts.expected_model_id is not null
                and final_attempts.expected_model_id <> final_attempts.model_id
                then final_attempts.effective_cost_usd
                - cast(
                    final_attempts.expected_model_list_cost_usd
                    * (100 - final_attempts.discount_pct)
                    * cast(0.01 as decimal(3, 2))
                    as {{ money_type() }}
                )
        end as fallback_premium_usd,
        final_attempts.expected_model_list_cost_usd
    from rolled_up
    inner join final_attempts
        on rolled_up.gateway_request_key = final_attempts.request_id

),

requests as (

    select
        coalesce(
            app_requests.app_request_id, gateway_requests.gateway_request_key
        ) as request_id,
        app_requests.app_request_id,
        app_requests.app_request_id is not null as has_app_request,
        gateway_requests.gateway_request_key is not null as has_gateway_traffic,
        app_requests.tenant_id as app_tenant_id,
        {{ keyed_hash('app_requests.user_id') }} as user_hash,
        app_requests.workload,
        app_requests.feature,
        app_requests.prompt_template_id,
        app_requests.prompt_template_version,
        app_requests.expected_route,
        app_requests.expected_model,
        app_requests.is_late_arrival,
        coalesce(app_requests.requested_at, gateway_requests.first_attempt_at) as requested_at,
        gateway_requests.*
    from app_requests
    full outer join gateway_requests
        on app_requests.app_request_id = gateway_requests.gateway_request_key

),

key_matches as (

    -- the key versions a request names (gateway key by id or hash, final
    -- provider key by id) as equality joins: one OR join across them cannot be
    -- hashed (5 s at 1M attempts). Only requests without the application
    -- log's tenant are attributed by key.
    select
        requests.request_id,
        requests.first_attempt_at,
        api_keys.key_kind,
        api_keys.tenant_id,
        api_keys.valid_from,
        api_keys.valid_to
    from requests
    inner join api_keys
        on requests.gateway_key_id = api_keys.api_key_id
    where requests.app_tenant_id is null
    union all
    select
        requests.request_id,
        requests.first_attempt_at,
        api_keys.key_kind,
        api_keys.tenant_id,
        api_keys.valid_from,
        api_keys.valid_to
    from requests
    inner join api_keys
        on requests.gateway_key_id = api_keys.key_hash
    where requests.app_tenant_id is null
    union all
    select
        requests.request_id,
        requests.first_attempt_at,
        api_keys.key_kind,
        api_keys.tenant_id,
        api_keys.valid_from,
        api_keys.valid_to
    from requests
    inner join api_keys
        on requests.final_provider_key_id = api_keys.api_key_id
    where requests.app_tenant_id is null

),

key_tenants as (

    -- a key version matched twice counts once: max() does not mind duplicates
    select
        request_id,
        max(case when key_kind = 'gateway' then tenant_id end)
            as gateway_key_tenant_id,
        max(case when key_kind = 'provider' then tenant_id end)
            as provider_key_tenant_id
    from key_matches
    where first_attempt_at >= valid_from
        and (valid_to is null or first_attempt_at < valid_to)
    group by request_id

),

final as (

    select
        requests.*,
        case
            when requests.app_tenant_id is not null then requests.app_tenant_id
            when key_tenants.gateway_key_tenant_id is not null
                then key_tenants.gateway_key_tenant_id
            when key_tenants.provider_key_tenant_id is not null
                then key_tenants.provider_key_tenant_id
            else 'unattributed'
        end as tenant_id,
        case
            when requests.app_tenant_id is not null then 'app_request'
            when key_tenants.gateway_key_tenant_id is not null then 'gateway_key'
            when key_tenants.provider_key_tenant_id is not null then 'provider_key'
            else 'unattributed'
        end as attribution_source
    from requests
    left join key_tenants
        on requests.request_id = key_tenants.request_id

)

select * from final
