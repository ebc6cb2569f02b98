-- One row per model string seen, with its canonical price-book model and family.
with

models as (

    select * from {{ ref('int_models__resolved') }}

),

families as (

    select * from {{ ref('model_families') }}

),

family_matches as (

    select
        models.provider_name,
        models.model_string,
        families.model_family,
        row_number() over (
            partition by models.provider_name, models.model_string
            order by length(families.model_id_prefix) desc
        ) as match_rank
    from models
    inner join families
        on models.price_provider_id = families.provider_id
        and left(models.model_id, length(families.model_id_prefix))
        = families.model_id_prefix

),

final as (

    select
        {{ dbt.hash("coalesce(models.provider_name, '') || '|' || models.model_string") }}
            as model_key,
        models.provider_name,
        models.provider_id,
        models.model_string,
        models.model_id,
        models.price_provider_id,
        coalesce(family_matches.model_family, models.model_id) as model_family,
        models.is_known_model,
        models.is_fallback_provider
    from models
    left join family_matches
        on models.provider_name is not distinct from family_matches.provider_name
        and models.model_string = family_matches.model_string
        and family_matches.match_rank = 1

)

select * from final
