-- The statement of record in FinOps FOCUS 1.2 columns: one charge row per statement line.
-- BilledCost is the exact statement amount, so a billing period's rows add up to the provider
-- invoices (attributed usage + the allocated remainder, which is its own 'Adjustment' rows).
-- Corrections of a closed month are ChargeClass 'Correction', billed in the period that carries
-- them, with the charge period of the month they correct. Tenants and workloads are Tags.
with

statement_lines as (

    select * from {{ ref('mart_statement_lines') }}

),

tenants as (

    select * from {{ ref('dim_tenants') }}
    where is_current

),

focus_providers as (

    select * from {{ ref('focus_providers') }}

),

provider_aliases as (

    select * from {{ ref('provider_aliases') }}

),

costs as (

    select * from {{ ref('stg_providers__costs') }}

),

invoice_lines as (

    select * from {{ ref('stg_providers__invoice_lines') }}

),

billing_account_ids as (

    -- the account the provider bills, as its own records name it
    select
        provider_name,
        provider_organization_id as billing_account_id
    from costs
    where provider_organization_id is not null
    union all
    select
        provider_name,
        billing_account_id
    from invoice_lines
    where billing_account_id is not null

),

billing_accounts as (

    select
        coalesce(
            provider_aliases.provider_id, billing_account_ids.provider_name
        ) as provider_id,
        min(billing_account_ids.billing_account_id) as billing_account_id
    from billing_account_ids
    left join provider_aliases
        on billing_account_ids.provider_name = provider_aliases.provider_name
    group by 1

),

classified as (

    select
        statement_lines.*,
        coalesce(
            statement_lines.adjusted_line_type, statement_lines.line_type
        ) as charged_line_type,
        coalesce(
            statement_lines.adjusted_billing_month, statement_lines.billing_month
        ) as charge_month
    from statement_lines

),

final as (

    select
        -- FOCUS: billing account and period
        coalesce(
            billing_accounts.billing_account_id, classified.provider_id
        ) as {{ adapter.quote("BillingAccountId") }},
        coalesce(
            focus_providers.billing_account_name, classified.provider_id
        ) as {{ adapter.quote("BillingAccountName") }},
        'USD' as {{ adapter.quote("BillingCurrency") }},
        cast(classified.billing_month as timestamp) as {{ adapter.quote("BillingPeriodStart") }},
        cast(
            {{ dbt.dateadd('month', 1, 'classified.billing_month') }} as timestamp
        ) as {{ adapter.quote("BillingPeriodEnd") }},

        -- FOCUS: the charge
        case
            when classified.charged_line_type = 'allocated_remainder' then 'Adjustment'
            else 'Usage'
        end as {{ adapter.quote("ChargeCategory") }},
        case
            when classified.line_type = 'adjustment' then 'Correction'
        end as {{ adapter.quote("ChargeClass") }},
        case
            when classified.line_type = 'adjustment'
                then 'Correction of the closed '
                || cast(classified.charge_month as {{ dbt.type_string() }})
                || ' statement line (' || classified.charged_line_type || ' '
                || coalesce(classified.model_id, classified.provider_project_id, '')
                || ') after its close'
            when classified.line_type = 'allocated_remainder'
                then 'Share of the invoice remainder of ' || classified.provider_id
                || ' project ' || coalesce(classified.provider_project_id, '(none)')
                || ' not traced to a request'
            when classified.line_type = 'retry_waste'
                then classified.model_id || ' attempts before the final one (retry waste), '
                || 'workload ' || classified.workload
            when classified.line_type = 'unpriced'
                then classified.model_id || ' attempts that could not be priced, '
                || 'workload ' || classified.workload
            else classified.model_id || ' usage, workload ' || classified.workload
        end as {{ adapter.quote("ChargeDescription") }},
        'Usage-Based' as {{ adapter.quote("ChargeFrequency") }},
        cast(classified.charge_month as timestamp) as {{ adapter.quote("ChargePeriodStart") }},
        cast(
            {{ dbt.dateadd('month', 1, 'classified.charge_month') }} as timestamp
        ) as {{ adapter.quote("ChargePeriodEnd") }},

        -- FOCUS: cost (exact decimals; rounded: x_BilledCostRounded)
        classified.amount_exact_usd as {{ adapter.quote("BilledCost") }},
        classified.amount_exact_usd as {{ adapter.quote("EffectiveCost") }},
        classified.amount_exact_usd as {{ adapter.quote("ContractedCost") }},
        case
            -- untraced spend has no list price: its list cost is what was billed
            when classified.charged_line_type = 'allocated_remainder'
                then classified.amount_exact_usd
            else classified.list_cost_usd
        end as {{ adapter.quote("ListCost") }},

        -- FOCUS: quantities (tokens; none for the invoice remainder)
        case
            when classified.charged_line_type <> 'allocated_remainder'
                then cast(
                    classified.input_tokens + classified.output_tokens
                    as decimal(38, 0)
                )
        end as {{ adapter.quote("ConsumedQuantity") }},
        case
            when classified.charged_line_type <> 'allocated_remainder' then 'Tokens'
        end as {{ adapter.quote("ConsumedUnit") }},
        case
            when classified.charged_line_type <> 'allocated_remainder'
                then cast(
                    classified.input_tokens + classified.output_tokens
                    as decimal(38, 0)
                )
        end as {{ adapter.quote("PricingQuantity") }},
        case
            when classified.charged_line_type <> 'allocated_remainder' then 'Tokens'
        end as {{ adapter.quote("PricingUnit") }},

        -- FOCUS: who provides, publishes and invoices the service
        coalesce(
            focus_providers.invoice_issuer_name, classified.provider_id
        ) as {{ adapter.quote("InvoiceIssuerName") }},
        coalesce(focus_providers.provider_name, classified.provider_id) as {{ adapter.quote("ProviderName") }},
        coalesce(focus_providers.publisher_name, classified.provider_id) as {{ adapter.quote("PublisherName") }},
        'AI and Machine Learning' as {{ adapter.quote("ServiceCategory") }},
        'Generative AI' as {{ adapter.quote("ServiceSubcategory") }},
        coalesce(focus_providers.service_name, classified.provider_id) as {{ adapter.quote("ServiceName") }},

        -- FOCUS: resource, SKU, sub-account, tags
        case
            when classified.model_id is not null
                then classified.provider_id || '/' || classified.model_id
        end as {{ adapter.quote("ResourceId") }},
        classified.model_id as {{ adapter.quote("ResourceName") }},
        case when classified.model_id is not null then 'Model' end as {{ adapter.quote("ResourceType") }},
        case
            when classified.model_id is not null
                then classified.provider_id || ':' || classified.model_id
        end as {{ adapter.quote("SkuId") }},
        classified.provider_project_id as {{ adapter.quote("SubAccountId") }},
        classified.provider_project_id as {{ adapter.quote("SubAccountName") }},
        {{ json_object_text([
            ('tenant', 'classified.tenant_id'),
            ('workload', 'classified.workload'),
            ('cost_center', 'tenants.cost_center'),
            ('business_unit', 'tenants.business_unit'),
        ]) }} as {{ adapter.quote("Tags") }},

        -- custom columns
        classified.tenant_id as {{ adapter.quote("x_TenantId") }},
        tenants.tenant_name as {{ adapter.quote("x_TenantName") }},
        tenants.cost_center as {{ adapter.quote("x_CostCenter") }},
        tenants.business_unit as {{ adapter.quote("x_BusinessUnit") }},
        classified.workload as {{ adapter.quote("x_Workload") }},
        classified.provider_id as {{ adapter.quote("x_ProviderId") }},
        classified.model_id as {{ adapter.quote("x_ModelId") }},
        classified.line_type as {{ adapter.quote("x_LineType") }},
        classified.adjusted_line_type as {{ adapter.quote("x_AdjustedLineType") }},
        classified.adjusts_statement_line_key as {{ adapter.quote("x_AdjustsStatementLineKey") }},
        classified.statement_line_key as {{ adapter.quote("x_StatementLineKey") }},
        classified.statement_status as {{ adapter.quote("x_StatementStatus") }},
        classified.close_id as {{ adapter.quote("x_CloseId") }},
        classified.amount_usd as {{ adapter.quote("x_BilledCostRounded") }},
        case
            when classified.quantity_unit = 'attempts' then classified.quantity
        end as {{ adapter.quote("x_Attempts") }},
        classified.input_tokens as {{ adapter.quote("x_InputTokens") }},
        classified.output_tokens as {{ adapter.quote("x_OutputTokens") }}

    from classified
    left join tenants
        on classified.tenant_id = tenants.tenant_id
    left join focus_providers
        on classified.provider_id = focus_providers.provider_id
    left join billing_accounts
        on classified.provider_id = billing_accounts.provider_id

)

select * from final
