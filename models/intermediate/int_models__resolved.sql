-- Every model string seen anywhere, resolved to the canonical price-book model the way
-- genai-prices does it: lower-cased, the provider's own models in catalogue order, then its
-- fallback providers; a match group matches when all of its clauses do; when nothing matches,
-- compact dates (-20250514) are rewritten (-2025-05-14) and matching is tried once more.
-- Strings with no provider (the products' expected_model) try the gateway's providers first.
with

spans as (

    select * from {{ ref('stg_gateway__spans') }}

),

spend_logs as (

    select * from {{ ref('stg_gateway__spend_logs') }}

),

app_requests as (

    select * from {{ ref('stg_app__requests') }}

),

response_usage as (

    select * from {{ ref('stg_providers__response_usage') }}

),

usage_buckets as (

    select * from {{ ref('stg_providers__usage_buckets') }}

),

provider_aliases as (

    select * from {{ ref('provider_aliases') }}

),

model_aliases as (

    select * from {{ ref('model_aliases') }}

),

observed as (

    select provider_name, response_model as model_string from spans
    union
    select provider_name, request_model from spans
    union
    select provider_name, response_model from spend_logs
    union
    select provider_name, request_model from spend_logs
    union
    select provider_name, response_model from response_usage
    union
    select provider_name, response_model from usage_buckets
    union
    select cast(null as {{ dbt.type_string() }}), expected_model from app_requests

),

observed_models as (

    select distinct
        observed.provider_name,
        observed.model_string,
        coalesce(provider_aliases.provider_id, observed.provider_name) as provider_id,
        lower(trim(observed.model_string)) as model_ref
    from observed
    left join provider_aliases
        on observed.provider_name = provider_aliases.provider_name
    where observed.model_string is not null

),

refs as (

    select
        observed_models.*,
        1 as match_pass,
        model_ref as candidate_ref
    from observed_models
    union all
    select
        observed_models.*,
        2 as match_pass,
        -- the date must end the name or be followed by a non-word character (a portable
        -- spelling of a word boundary: Postgres reads \b as a backspace)
        {{ regex_replace(
            'model_ref',
            '-([0-9]{4})([0-9]{2})([0-9]{2})([^0-9A-Za-z_]|$)',
            '-\\1-\\2-\\3\\4'
        ) }} as candidate_ref
    from observed_models

),

clauses as (

    select
        refs.provider_name,
        refs.model_string,
        refs.provider_id as observed_provider_id,
        refs.match_pass,
        model_aliases.provider_id as alias_provider_id,
        model_aliases.model_provider_id,
        model_aliases.model_id,
        model_aliases.match_priority,
        model_aliases.match_group,
        model_aliases.is_fallback,
        (
            case model_aliases.match_kind
                when 'equals' then refs.candidate_ref = model_aliases.match_value
                when 'starts_with'
                    then left(refs.candidate_ref, length(model_aliases.match_value))
                    = model_aliases.match_value
                when 'ends_with'
                    then right(refs.candidate_ref, length(model_aliases.match_value))
                    = model_aliases.match_value
                when 'contains'
                    then position(model_aliases.match_value in refs.candidate_ref) > 0
                when 'regex'
                    then {{ regex_matches('refs.candidate_ref', 'model_aliases.match_value') }}
            end
        ) <> model_aliases.is_negated as is_clause_match
    from refs
    inner join model_aliases
        on model_aliases.provider_id = refs.provider_id
        or (refs.provider_id is null and not model_aliases.is_fallback)

),

matched_groups as (

    select
        provider_name,
        model_string,
        match_pass,
        alias_provider_id,
        model_provider_id,
        model_id,
        match_priority,
        is_fallback
    from clauses
    group by
        provider_name,
        model_string,
        match_pass,
        alias_provider_id,
        model_provider_id,
        model_id,
        match_priority,
        match_group,
        is_fallback
    having bool_and(is_clause_match)

),

ranked as (

    select
        *,
        row_number() over (
            partition by provider_name, model_string
            order by
                match_pass,
                case
                    when alias_provider_id in ('openai', 'anthropic', 'google') then 0
                    else 1
                end,
                alias_provider_id,
                match_priority
        ) as match_rank
    from matched_groups

),

final as (

    select
        observed_models.provider_name,
        observed_models.model_string,
        coalesce(observed_models.provider_id, ranked.alias_provider_id) as provider_id,
        ranked.model_provider_id as price_provider_id,
        ranked.model_id,
        coalesce(ranked.is_fallback, false) as is_fallback_provider,
        ranked.model_id is not null as is_known_model,
        ranked.match_pass
    from observed_models
    left join ranked
        on observed_models.model_string = ranked.model_string
        and observed_models.provider_name is not distinct from ranked.provider_name
        and ranked.match_rank = 1

)

select * from final
