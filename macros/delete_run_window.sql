{#-
    Pre-hook of the day-partitioned incremental facts: delete the rows of the window about to
    be rebuilt (all rows when the run has no window), then the model appends the window again.
    Exact for every engine, and a day that lost rows loses them here too.
-#}
{% macro delete_run_window(column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ run_window(column) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
