{#-
    Spark only: the raw tables are parquet folders written by the Spark loader
    (orchestration/lib/spark_loader.py) under $AI_CHARGEBACK_SPARK_DIR/raw/<table>. Each run registers
    them as external tables (dropping an external table keeps its files), so a new raw column or
    a reloaded file is picked up without a metastore migration. Other engines: nothing to do.
-#}
{% macro register_raw_tables() -%}
    {{ return(adapter.dispatch('register_raw_tables', 'ai_chargeback')()) }}
{%- endmacro %}

{% macro default__register_raw_tables() -%}
    {{ return('') }}
{%- endmacro %}

{% macro spark__register_raw_tables() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set root = env_var('AI_CHARGEBACK_SPARK_DIR', 'warehouse/spark') ~ '/raw' -%}
    {%- set tables = [] -%}
    {%- for node in graph.sources.values() if node.schema == 'raw' -%}
        {%- do tables.append(node.identifier) -%}
    {%- endfor -%}
    {%- do run_query('create schema if not exists raw') -%}
    {%- for table in tables | unique | sort -%}
        {%- do run_query('drop table if exists raw.' ~ table) -%}
        {%- do run_query(
            'create table raw.' ~ table ~ " using parquet location '" ~ root ~ '/' ~ table ~ "'"
        ) -%}
    {%- endfor -%}
    {{ log('registered ' ~ tables | length ~ ' raw parquet tables', info=false) }}
    {{ return('') }}
{%- endmacro %}
