-- One row per application request id: a product may log the same request again (a retry of
-- its log shipper, or a corrected late line); the latest delivery wins.
with

app_requests as (

    select * from {{ ref('stg_app__requests') }}
    where {{ run_window('requested_at', margin_days=1) }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by app_request_id
            order by landing_date desc, source_file desc, source_line_number desc
        ) as delivery_rank
    from app_requests

),

final as (

    select
        app_request_id,
        tenant_id,
        user_id,
        prompt_template_id,
        workload,
        feature,
        prompt_template_version,
        expected_route,
        expected_model,
        requested_at,
        landing_date,
        source_file,
        source_line_number,
        cast(requested_at as date) < landing_date as is_late_arrival
    from ranked
    where delivery_rank = 1

)

select * from final
