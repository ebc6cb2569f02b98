-- Frozen statement lines of closed months (every close ever made; the active one is picked in
-- mart_statement_lines). Empty until the first `ai-chargeback close`.
with

source as (

    select * from {{ source_or_empty('audit', 'closed_statement_lines', {
        'close_id': dbt.type_string(),
        'closed_at': 'timestamp',
        'billing_month': 'date',
        'statement_line_key': dbt.type_string(),
        'tenant_id': dbt.type_string(),
        'provider_id': dbt.type_string(),
        'line_type': dbt.type_string(),
        'adjusted_line_type': dbt.type_string(),
        'adjusted_billing_month': 'date',
        'adjusts_statement_line_key': dbt.type_string(),
        'model_id': dbt.type_string(),
        'workload': dbt.type_string(),
        'provider_project_id': dbt.type_string(),
        'quantity': 'bigint',
        'quantity_unit': dbt.type_string(),
        'input_tokens': 'bigint',
        'output_tokens': 'bigint',
        'list_cost_usd': money_type(),
        'amount_exact_usd': money_type(),
        'amount_usd': 'decimal(38, 2)',
    }) }}

),

renamed as (

    select
        -- ids
        close_id,
        statement_line_key,
        adjusts_statement_line_key,
        tenant_id,
        provider_id,
        provider_project_id,

        -- dimensions
        line_type,
        adjusted_line_type,
        model_id,
        workload,
        quantity_unit,

        -- numerics
        cast(quantity as bigint) as quantity,
        cast(input_tokens as bigint) as input_tokens,
        cast(output_tokens as bigint) as output_tokens,
        cast(list_cost_usd as {{ money_type() }}) as list_cost_usd,
        cast(amount_exact_usd as {{ money_type() }}) as amount_exact_usd,
        cast(amount_usd as decimal(38, 2)) as amount_usd,

        -- timestamps
        cast(billing_month as date) as billing_month,
        cast(adjusted_billing_month as date) as adjusted_billing_month,
        cast(closed_at as timestamp) as closed_at

    from source

)

select * from renamed
