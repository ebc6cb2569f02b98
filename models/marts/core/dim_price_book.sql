-- The price book as priced: list prices per period and tier, with the contract discount that
-- applies to the provider over the same time (effective = list x (100 - discount_pct) %).
with

price_book as (

    select * from {{ ref('price_book') }}

),

final as (

    select
        {{ dbt.hash(
            "provider_id || '|' || model_id || '|' || service_tier || '|' || processing"
            ~ " || '|' || cast(effective_from as " ~ dbt.type_string() ~ ")"
            ~ " || '|' || cast(time_of_day_from_second as " ~ dbt.type_string() ~ ")"
            ~ " || '|' || cast(tier_min_input_tokens as " ~ dbt.type_string() ~ ")"
        ) }} as price_key,
        *
    from price_book

)

select * from final
