{#-
    Pre-hook of the day-partitioned incremental facts: delete the rows of the window about to
    be rebuilt (all rows when the run has no window), then the model appends the window again.
    Exact for every engine, and a day that lost rows loses them here too.
-#}
{% macro delete_run_window(column) -%}
    {#- Spark overwrites the rebuilt day partitions instead (macros/day_partitioned.sql) -#}
    {%- if is_incremental() and target.type != 'spark' -%}
        delete from {{ this }} where {{ run_window(column) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
