{#- The text at a key path of a JSON column (NULL when absent). -#}
{% macro json_text(column, keys) -%}
    {{ return(adapter.dispatch('json_text', 'ai_chargeback')(column, keys)) }}
{%- endmacro %}

{% macro default__json_text(column, keys) -%}
    ({{ column }}::jsonb #>> '{ {{- keys | join(',') -}} }')
{%- endmacro %}

{% macro duckdb__json_text(column, keys) -%}
    json_extract_string({{ column }}, '$.{{ keys | join('.') }}')
{%- endmacro %}

{% macro spark__json_text(column, keys) -%}
    get_json_object({{ column }}, '$.{{ keys | join('.') }}')
{%- endmacro %}
