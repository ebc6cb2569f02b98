-- Tokens per request by prompt template, version and day, with the version-level averages and
-- the change against the previous version of the same template (served requests only).
with

requests as (

    select * from {{ ref('fct_ai_requests') }}

),

served as (

    select *
    from requests
    where prompt_template_id is not null
        and has_gateway_traffic
        and is_served

),

daily as (

    select
        prompt_template_id,
        prompt_template_version,
        request_date,
        count(*) as request_count,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        cast(avg(input_tokens) as {{ double_type() }}) as input_tokens_mean,
        {{ percentile('input_tokens', 0.5) }} as input_tokens_p50,
        {{ percentile('input_tokens', 0.95) }} as input_tokens_p95,
        cast(avg(output_tokens) as {{ double_type() }}) as output_tokens_mean,
        {{ percentile('output_tokens', 0.5) }} as output_tokens_p50,
        {{ percentile('output_tokens', 0.95) }} as output_tokens_p95
    from served
    group by 1, 2, 3

),

versions as (

    select
        prompt_template_id,
        prompt_template_version,
        count(*) as version_request_count,
        min(request_date) as version_first_date,
        max(request_date) as version_last_date,
        cast(avg(input_tokens) as {{ double_type() }})
            as version_input_tokens_mean,
        cast(avg(output_tokens) as {{ double_type() }})
            as version_output_tokens_mean
    from served
    group by 1, 2

),

ordered_versions as (

    select
        *,
        lag(prompt_template_version) over (
            partition by prompt_template_id
            order by {{ try_cast_integer('prompt_template_version') }},
                prompt_template_version
        ) as previous_version,
        lag(version_output_tokens_mean) over (
            partition by prompt_template_id
            order by {{ try_cast_integer('prompt_template_version') }},
                prompt_template_version
        ) as previous_version_output_tokens_mean,
        lag(version_input_tokens_mean) over (
            partition by prompt_template_id
            order by {{ try_cast_integer('prompt_template_version') }},
                prompt_template_version
        ) as previous_version_input_tokens_mean
    from versions

),

final as (

    select
        {{ dbt.hash(
            "daily.prompt_template_id || '|' || daily.prompt_template_version"
            ~ " || '|' || cast(daily.request_date as " ~ dbt.type_string() ~ ")"
        ) }} as template_day_key,
        daily.*,
        ordered_versions.version_request_count,
        ordered_versions.version_first_date,
        ordered_versions.version_output_tokens_mean,
        ordered_versions.previous_version,
        ordered_versions.previous_version_output_tokens_mean,
        {{ ratio(
            'ordered_versions.version_output_tokens_mean'
            ~ ' - ordered_versions.previous_version_output_tokens_mean',
            'ordered_versions.previous_version_output_tokens_mean'
        ) }} as output_tokens_change_vs_previous_version,
        {{ ratio(
            'ordered_versions.version_input_tokens_mean'
            ~ ' - ordered_versions.previous_version_input_tokens_mean',
            'ordered_versions.previous_version_input_tokens_mean'
        ) }} as input_tokens_change_vs_previous_version
    from daily
    inner join ordered_versions
        on daily.prompt_template_id = ordered_versions.prompt_template_id
        and daily.prompt_template_version = ordered_versions.prompt_template_version

)

select * from final
