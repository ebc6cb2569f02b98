-- Each delivery of the key inventory is a full snapshot: the latest delivery is the truth.
with

source as (

    select * from {{ source('directory', 'api_keys') }}

),

latest_delivery as (

    select *
    from source
    where _source_file = (select max(_source_file) from source)

),

renamed as (

    select
        -- ids
        api_key_id,
        key_hash,
        nullif(tenant_id, '') as tenant_id,
        project_id as provider_project_id,

        -- dimensions
        key_kind,
        lower(provider) as provider_name,

        -- timestamps
        {{ to_utc('valid_from') }} as valid_from,
        {{ to_utc('valid_to') }} as valid_to,

        -- lineage
        _source_file as source_file,
        _line_number as source_line_number

    from latest_delivery

)

select * from renamed
