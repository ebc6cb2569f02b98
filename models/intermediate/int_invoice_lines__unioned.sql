-- Every line of money the providers billed, in one shape: costs API buckets (OpenAI,
-- Anthropic) and invoice CSV lines (providers with no costs API).
with

costs as (

    select * from {{ ref('stg_providers__costs') }}

),

invoice_lines as (

    select * from {{ ref('stg_providers__invoice_lines') }}

),

provider_aliases as (

    select * from {{ ref('provider_aliases') }}

),

unioned as (

    select
        provider_name,
        provider_project_id,
        line_item,
        currency,
        amount_usd,
        period_started_at,
        period_ended_at,
        source_file,
        source_record_path as source_record
    from costs
    union all
    select
        provider_name,
        provider_project_id,
        line_item,
        currency,
        amount_usd,
        period_started_at,
        period_ended_at,
        source_file,
        cast(source_line_number as {{ dbt.type_string() }}) as source_record
    from invoice_lines

),

final as (

    select
        coalesce(provider_aliases.provider_id, unioned.provider_name) as provider_id,
        unioned.*
    from unioned
    left join provider_aliases
        on unioned.provider_name = provider_aliases.provider_name

)

select * from final
