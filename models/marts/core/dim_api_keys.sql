-- Key versions with their rotation windows: ids and hashes only, never key material.
with

api_keys as (

    select * from {{ ref('stg_directory__api_keys') }}

),

final as (

    select
        {{ dbt.hash("api_key_id || '|' || cast(valid_from as " ~ dbt.type_string() ~ ")") }} as api_key_version_key,
        api_key_id,
        key_hash,
        key_kind,
        provider_name,
        coalesce(tenant_id, 'unattributed') as tenant_id,
        tenant_id is null as is_shared_key,
        provider_project_id,
        valid_from,
        valid_to
    from api_keys

)

select * from final
