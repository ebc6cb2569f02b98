-- Every request that could not be priced, with the reason: never a silent $0.
with

requests as (

    select * from {{ ref('fct_ai_requests') }}

),

final as (

    select
        request_id,
        tenant_id,
        workload,
        request_date,
        requested_at,
        provider_id,
        resolved_model,
        model_id,
        pricing_reason,
        attempt_count,
        input_tokens,
        output_tokens
    from requests
    where pricing_status = 'unpriced'

)

select * from final
