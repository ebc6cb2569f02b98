-- Did a new prompt-template version raise output tokens per request by 40 % or more?
-- vars: prompt_template_id (default: all), threshold (default 0.40).
--   dbt compile -s prompt_template_output_increase --vars '{prompt_template_id: search-answer}'
with

template_days as (

    select * from {{ ref('mart_prompt_template_tokens') }}

),

versions as (

    select distinct
        prompt_template_id,
        prompt_template_version,
        previous_version,
        version_first_date,
        version_request_count,
        version_output_tokens_mean,
        previous_version_output_tokens_mean,
        output_tokens_change_vs_previous_version
    from template_days
    where previous_version is not null
    {% if var('prompt_template_id', none) %}
        and prompt_template_id = '{{ var("prompt_template_id") }}'
    {% endif %}

)

select
    *,
    output_tokens_change_vs_previous_version >= {{ var('threshold', 0.40) }}
        as is_increase_over_threshold
from versions
order by output_tokens_change_vs_previous_version desc
