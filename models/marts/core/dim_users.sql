-- Users as keyed hashes only (the raw id never leaves staging).
with

requests as (

    select * from {{ ref('fct_ai_requests') }}

),

final as (

    select
        user_hash,
        min(tenant_id) as tenant_id,
        count(distinct tenant_id) as tenant_count,
        count(*) as request_count,
        min(requested_at) as first_request_at,
        max(requested_at) as last_request_at
    from requests
    where user_hash is not null
    group by user_hash

)

select * from final
