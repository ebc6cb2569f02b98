-- Requests served by a different model than the product expected, by day, route and tenant:
-- how many, their tokens, what they cost and what the same tokens would have cost at the
-- expected model's price (after the same discount).
with

requests as (

    select * from {{ ref('fct_ai_requests') }}

),

switched as (

    select *
    from requests
    where is_model_switched and pricing_status = 'priced'

),

grouped as (

    select
        request_date,
        coalesce(route_name, expected_route, '(none)') as route_name,
        tenant_id,
        expected_model_id,
        model_id as served_model_id,
        provider_id as served_provider_id,
        count(*) as request_count,
        sum(fallback_count) as fallback_attempt_count,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        sum(effective_cost_usd) as effective_cost_usd,
        sum(fallback_premium_usd) as fallback_premium_usd,
        sum(effective_cost_usd) - sum(fallback_premium_usd) as expected_model_cost_usd
    from switched
    group by 1, 2, 3, 4, 5, 6

),

route_day_totals as (

    select
        request_date,
        coalesce(route_name, expected_route, '(none)') as route_name,
        tenant_id,
        count(*) as route_request_count
    from requests
    where has_gateway_traffic
    group by 1, 2, 3

),

final as (

    select
        {{ dbt.hash(
            "cast(grouped.request_date as " ~ dbt.type_string() ~ ") || '|' || grouped.route_name"
            ~ " || '|' || grouped.tenant_id || '|' || grouped.expected_model_id"
            ~ " || '|' || grouped.served_model_id"
        ) }} as fallback_drift_key,
        grouped.*,
        route_day_totals.route_request_count,
        {{ ratio('grouped.request_count', 'route_day_totals.route_request_count') }}
            as switched_request_share,
        {{ ratio('grouped.fallback_premium_usd', 'grouped.expected_model_cost_usd') }}
            as premium_share
    from grouped
    left join route_day_totals
        on grouped.request_date = route_day_totals.request_date
        and grouped.route_name = route_day_totals.route_name
        and grouped.tenant_id = route_day_totals.tenant_id

)

select * from final
