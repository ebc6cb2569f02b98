{#-
    The incremental strategy of the day-partitioned facts, as config() arguments. DuckDB and
    Postgres delete the run's window (pre-hook delete_run_window) and append it again. Spark
    parquet tables cannot delete rows: they are partitioned by the day and the run overwrites
    the days it rebuilt (insert_overwrite, dynamic partition overwrite in the profile).
-#}
{% macro day_partitioned(column) -%}
    {{ return(adapter.dispatch('day_partitioned', 'ai_chargeback')(column)) }}
{%- endmacro %}

{% macro default__day_partitioned(column) -%}
    {{ return({'incremental_strategy': 'append'}) }}
{%- endmacro %}

{% macro spark__day_partitioned(column) -%}
    {{ return({
        'incremental_strategy': 'insert_overwrite',
        'partition_by': [column],
        'file_format': 'parquet',
    }) }}
{%- endmacro %}
