with

source as (

    select * from {{ source('providers', 'provider_invoice_lines') }}

),

renamed as (

    select
        -- ids
        billing_account_id,
        project_id as provider_project_id,

        -- dimensions
        provider as provider_name,
        service_description,
        sku_description as line_item,
        usage_unit,
        upper(currency) as currency,

        -- numerics
        usage_amount,
        cost_usd as amount_usd,

        -- timestamps
        {{ to_utc('usage_start_date') }} as period_started_at,
        -- invoice CSVs give the last day of usage (inclusive): the period ends a day later
        {{ dbt.dateadd('day', 1, to_utc('usage_end_date')) }} as period_ended_at,

        -- lineage
        _source_file as source_file,
        _line_number as source_line_number,
        _landing_date as landing_date

    from source

)

select * from renamed
