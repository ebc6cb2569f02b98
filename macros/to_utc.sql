{#- A timestamp with time zone as a UTC timestamp without one (the warehouse's one time type). -#}
{% macro to_utc(column) -%}
    {{ return(adapter.dispatch('to_utc', 'ai_chargeback')(column)) }}
{%- endmacro %}

{% macro default__to_utc(column) -%}
    ({{ column }} at time zone 'UTC')
{%- endmacro %}

{% macro duckdb__to_utc(column) -%}
    timezone('UTC', {{ column }})
{%- endmacro %}

{#- Spark's timestamp is an instant shown in the session time zone, which the profile sets
    to UTC: the value is already the UTC wall-clock time. -#}
{% macro spark__to_utc(column) -%}
    cast({{ column }} as timestamp)
{%- endmacro %}
