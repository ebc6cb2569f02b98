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
        ) as "BillingAccountId",
        coalesce(
            focus_providers.billing_account_name, classified.provider_id
        ) as "BillingAccountName",
        'USD' as "BillingCurrency",
        cast(classified.billing_month as timestamp) as "BillingPeriodStart",
        cast(
            {{ dbt.dateadd('month', 1, 'classified.billing_month') }} as timestamp
        ) as "BillingPeriodEnd",

        -- FOCUS: the charge
        case
            when classified.charged_line_type = 'allocated_remainder' then 'Adjustment'
            else 'Usage'
        end as "ChargeCategory",
        case
            when classified.line_type = 'adjustment' then 'Correction'
        end as "ChargeClass",
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
        end as "ChargeDescription",
        'Usage-Based' as "ChargeFrequency",
        cast(classified.charge_month as timestamp) as "ChargePeriodStart",
        cast(
            {{ dbt.dateadd('month', 1, 'classified.charge_month') }} as timestamp
        ) as "ChargePeriodEnd",

        -- FOCUS: cost (exact decimals; rounded: x_BilledCostRounded)
        classified.amount_exact_usd as "BilledCost",
        classified.amount_exact_usd as "EffectiveCost",
        classified.amount_exact_usd as "ContractedCost",
        case
            -- untraced spend has no list price: its list cost is what was billed
            when classified.charged_line_type = 'allocated_remainder'
                then classified.amount_exact_usd
            else classified.list_cost_usd
        end as "ListCost",

        -- FOCUS: quantities (tokens; none for the invoice remainder)
        case
            when classified.charged_line_type <> 'allocated_remainder'
                then cast(
                    classified.input_tokens + classified.output_tokens
                    as decimal(38, 0)
                )
        end as "ConsumedQuantity",
        case
            when classified.charged_line_type <> 'allocated_remainder' then 'Tokens'
        end as "ConsumedUnit",
        case
            when classified.charged_line_type <> 'allocated_remainder'
                then cast(
                    classified.input_tokens + classified.output_tokens
                    as decimal(38, 0)
                )
        end as "PricingQuantity",
        case
            when classified.charged_line_type <> 'allocated_remainder' then 'Tokens'
        end as "PricingUnit",

        -- FOCUS: who provides, publishes and invoices the service
        coalesce(
            focus_providers.invoice_issuer_name, classified.provider_id
        ) as "InvoiceIssuerName",
        coalesce(focus_providers.provider_name, classified.provider_id) as "ProviderName",
        coalesce(focus_providers.publisher_name, classified.provider_id) as "PublisherName",
        'AI and Machine Learning' as "ServiceCategory",
        'Generative AI' as "ServiceSubcategory",
        coalesce(focus_providers.service_name, classified.provider_id) as "ServiceName",

        -- FOCUS: resource, SKU, sub-account, tags
        case
            when classified.model_id is not null
                then classified.provider_id || '/' || classified.model_id
        end as "ResourceId",
        classified.model_id as "ResourceName",
        case when classified.model_id is not null then 'Model' end as "ResourceType",
        case
            when classified.model_id is not null
                then classified.provider_id || ':' || classified.model_id
        end as "SkuId",
        classified.provider_project_id as "SubAccountId",
        classified.provider_project_id as "SubAccountName",
        {{ json_object_text([
            ('tenant', 'classified.tenant_id'),
            ('workload', 'classified.workload'),
            ('cost_center', 'tenants.cost_center'),
            ('business_unit', 'tenants.business_unit'),
        ]) }} as "Tags",

        -- custom columns
        classified.tenant_id as "x_TenantId",
        tenants.tenant_name as "x_TenantName",
        tenants.cost_center as "x_CostCenter",
        tenants.business_unit as "x_BusinessUnit",
        classified.workload as "x_Workload",
        classified.provider_id as "x_ProviderId",
        classified.model_id as "x_ModelId",
        classified.line_type as "x_LineType",
        classified.adjusted_line_type as "x_AdjustedLineType",
        classified.adjusts_statement_line_key as "x_AdjustsStatementLineKey",
        classified.statement_line_key as "x_StatementLineKey",
        classified.statement_status as "x_StatementStatus",
        classified.close_id as "x_CloseId",
        classified.amount_usd as "x_BilledCostRounded",
        case
            when classified.quantity_unit = 'attempts' then classified.quantity
        end as "x_Attempts",
        classified.input_tokens as "x_InputTokens",
        classified.output_tokens as "x_OutputTokens"

    from classified
    left join tenants
        on classified.tenant_id = tenants.tenant_id
    left join focus_providers
        on classified.provider_id = focus_providers.provider_id
    left join billing_accounts
        on classified.provider_id = billing_accounts.provider_id

)

select * from final
