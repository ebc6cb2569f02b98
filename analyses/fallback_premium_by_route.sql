-- Did a fallback route silently push cheap traffic onto a premium model?
-- Routes whose requests were served by a model other than the expected one, with what it cost
-- on top of the expected model's price, by route, tenant and served model.
with

drift as (

    select * from {{ ref('mart_fallback_drift') }}

),

by_route as (

    select
        route_name,
        tenant_id,
        expected_model_id,
        served_model_id,
        min(request_date) as first_date,
        max(request_date) as last_date,
        sum(request_count) as switched_requests,
        sum(fallback_attempt_count) as fallback_attempts,
        sum(effective_cost_usd) as effective_cost_usd,
        sum(expected_model_cost_usd) as expected_model_cost_usd,
        sum(fallback_premium_usd) as fallback_premium_usd
    from drift
    group by 1, 2, 3, 4

)

select
    *,
    {{ ratio('fallback_premium_usd', 'expected_model_cost_usd') }} as premium_share,
    fallback_premium_usd > 0 and fallback_attempts > 0 as is_fallback_to_premium
from by_route
order by fallback_premium_usd desc
