{#-
    A source that may not exist yet, as a relation: the source itself when the warehouse has it,
    else an empty relation with the given columns (name -> SQL type). For tables that a command
    creates on first use (the period-close audit tables) rather than a loader: models reading
    them build before the first close and pick the real table up on the next run.
    source() is always called, so the dependency is in the manifest either way.
-#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set found = none -%}
    {%- if execute -%}
        {%- set found = adapter.get_relation(
            database=relation.database,
            schema=relation.schema,
            identifier=relation.identifier
        ) -%}
    {%- endif -%}
    {%- if found is not none -%}
        {{ relation }}
    {%- else -%}
        (
            select
            {%- for name, data_type in columns.items() %}
                cast(null as {{ data_type }}) as {{ name }}{{ "," if not loop.last }}
            {%- endfor %}
            where 1 = 0
        ) as {{ table_name }}_empty
    {%- endif -%}
{%- endmacro %}
