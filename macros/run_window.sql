{#-
    The time window a partitioned (daily) run rebuilds, from the vars run_window_start /
    run_window_end (ISO dates, end exclusive) that the Dagster dbt asset passes: the partition
    range widened back by var lookback_days, for late app requests and provider usage.
    Without the vars (a full build) every row is in the window. margin_days widens the window
    on both sides, for inputs that must see a request's neighbours (a request at 23:59 whose
    retry lands after midnight).
-#}
{% macro run_window(column, margin_days=0) -%}
    {%- set start = var('run_window_start', none) -%}
    {%- set end = var('run_window_end', none) -%}
    {%- if start is none and end is none -%}
        (1 = 1)
    {%- else -%}
        (
            {% if start is not none -%}
            {{ column }} >= {{ dbt.dateadd('day', -margin_days, "cast('" ~ start ~ "' as timestamp)") }}
            {%- else -%}1 = 1{%- endif %}
            and {% if end is not none -%}
            {{ column }} < {{ dbt.dateadd('day', margin_days, "cast('" ~ end ~ "' as timestamp)") }}
            {%- else -%}1 = 1{%- endif %}
        )
    {%- endif -%}
{%- endmacro %}
