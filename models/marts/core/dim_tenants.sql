-- Tenant versions (SCD2): join facts on tenant_id and valid_from <= ts < coalesce(valid_to, ...).
with

tenants as (

    select * from {{ ref('stg_directory__tenants') }}

),

final as (

    select
        {{ dbt.hash("tenant_id || '|' || cast(valid_from as " ~ dbt.type_string() ~ ")") }} as tenant_version_key,
        tenant_id,
        tenant_name,
        cost_center,
        business_unit,
        plan,
        owner_email,
        valid_from,
        valid_to,
        valid_to is null as is_current
    from tenants

)

select * from final
