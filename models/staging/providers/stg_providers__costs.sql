-- OpenAI amount.value is in USD; Anthropic's amount is a decimal string in cents.
-- Cents become dollars by multiplying with a DECIMAL constant (never by dividing).
with

source as (

    select * from {{ source('providers', 'provider_costs') }}

),

renamed as (

    select
        -- ids
        coalesce(project_id, workspace_id) as provider_project_id,
        organization_id as provider_organization_id,

        -- dimensions
        provider as provider_name,
        coalesce(line_item, description) as line_item,
        model as line_item_model,
        token_type as line_item_token_type,
        service_tier,
        upper(coalesce(amount_currency, currency)) as currency,

        -- numerics
        cast(
            case provider
                when 'anthropic'
                    then amount * cast(0.01 as {{ money_type() }})
                else amount_value
            end as {{ money_type() }}
        ) as amount_usd,

        -- timestamps
        {{ to_utc('bucket_start_time') }} as period_started_at,
        {{ to_utc('bucket_end_time') }} as period_ended_at,

        -- lineage
        result_json,
        _source_file as source_file,
        _record_path as source_record_path,
        _landing_date as landing_date

    from source

)

select * from renamed
