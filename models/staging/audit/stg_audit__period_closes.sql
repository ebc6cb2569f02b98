-- The close / reopen log of billing months. Empty until the first `ai-chargeback close`.
with

source as (

    select * from {{ source_or_empty('audit', 'period_closes', {
        'event_id': dbt.type_string(),
        'close_id': dbt.type_string(),
        'billing_month': 'date',
        'action': dbt.type_string(),
        'reason': dbt.type_string(),
        'acted_at': 'timestamp',
        'acted_by': dbt.type_string(),
        'line_count': 'bigint',
        'amount_exact_usd': money_type(),
        'amount_usd': 'decimal(38, 2)',
    }) }}

),

renamed as (

    select
        -- ids
        event_id,
        close_id,

        -- dimensions
        action,
        reason,
        acted_by,

        -- numerics
        cast(line_count as bigint) as line_count,
        cast(amount_exact_usd as {{ money_type() }}) as amount_exact_usd,
        cast(amount_usd as decimal(38, 2)) as amount_usd,

        -- timestamps
        cast(billing_month as date) as billing_month,
        cast(acted_at as timestamp) as acted_at

    from source

)

select * from renamed
