-- Each delivery of the directory is a full snapshot: the latest delivery is the truth.
with

source as (

    select * from {{ source('directory', 'tenants') }}

),

latest_delivery as (

    select *
    from source
    where _source_file = (select max(_source_file) from source)

),

renamed as (

    select
        -- ids
        tenant_id,

        -- dimensions
        tenant_name,
        cost_center,
        business_unit,
        plan,
        owner_email,

        -- timestamps
        {{ to_utc('valid_from') }} as valid_from,
        {{ to_utc('valid_to') }} as valid_to,

        -- lineage
        _source_file as source_file,
        _line_number as source_line_number

    from latest_delivery

)

select * from renamed
