with

source as (

    select * from {{ source('app', 'app_requests') }}

),

renamed as (

    select
        -- ids
        app_request_id,
        tenant_id,
        user_id,
        prompt_template_id,

        -- dimensions
        workload,
        feature,
        prompt_template_version,
        expected_route,
        expected_model,

        -- timestamps: products log local offsets; the warehouse keeps UTC
        {{ to_utc('ts') }} as requested_at,

        -- lineage
        _source_file as source_file,
        _line_number as source_line_number,
        _landing_date as landing_date,
        {{ to_utc('_loaded_at') }} as loaded_at

    from source

)

select * from renamed
