-- Both kinds of orphan: gateway traffic no application request claims, and application
-- requests the gateway never saw. Each with its reason.
with

requests as (

    select * from {{ ref('fct_ai_requests') }}

),

final as (

    select
        request_id,
        case
            when not has_gateway_traffic then 'app_request_without_spans'
            when app_request_id is null and trace_id is not null
                then 'spans_without_app_request'
            else 'gateway_request_without_app_request'
        end as orphan_kind,
        case
            when not has_gateway_traffic
                then 'the application logged the request but no gateway span or spend log has it'
            when gateway_request_id like 'trace:%' and request_id like 'trace:%'
                then 'the gateway request carried no x-request-id header'
            else 'the gateway forwarded an application request id that no product logged'
        end as reason,
        tenant_id,
        attribution_source,
        gateway,
        workload,
        request_date,
        requested_at,
        provider_id,
        model_id,
        attempt_count,
        effective_cost_usd
    from requests
    where not has_app_request or not has_gateway_traffic

)

select * from final
