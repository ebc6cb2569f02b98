-- Which product (workload) consumed most of yesterday's spend on a model family?
-- vars: model_family (default: every family), as_of_date (yesterday = the day before it;
-- default: the most recent day with usage, i.e. yesterday in a daily run).
--   dbt compile -s top_workload_by_model_family_yesterday --vars '{model_family: claude-opus}'
with

daily as (

    select * from {{ ref('mart_chargeback_daily') }}

),

models as (

    select distinct model_id, model_family from {{ ref('dim_models') }}

),

yesterday as (

    {% if var('as_of_date', none) %}
    select {{ dbt.dateadd('day', -1, "cast('" ~ var('as_of_date') ~ "' as date)") }} as usage_date
    {% else %}
    select max(usage_date) as usage_date from daily
    {% endif %}

),

spend as (

    select
        coalesce(models.model_family, daily.model_id) as model_family,
        daily.workload,
        sum(daily.effective_cost_usd) as effective_cost_usd,
        sum(daily.request_count) as request_count
    from daily
    inner join yesterday
        on daily.usage_date = yesterday.usage_date
    left join models
        on daily.model_id = models.model_id
    {% if var('model_family', none) %}
    where coalesce(models.model_family, daily.model_id) = '{{ var("model_family") }}'
    {% endif %}
    group by 1, 2

),

ranked as (

    select
        *,
        sum(effective_cost_usd) over (partition by model_family) as family_cost_usd,
        row_number() over (
            partition by model_family order by effective_cost_usd desc, workload
        ) as spend_rank
    from spend

)

select
    (select usage_date from yesterday) as usage_date,
    model_family,
    workload as top_workload,
    effective_cost_usd,
    family_cost_usd,
    {{ ratio('effective_cost_usd', 'family_cost_usd') }} as share_of_family_spend,
    request_count
from ranked
where spend_rank = 1
order by family_cost_usd desc
