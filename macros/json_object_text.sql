{#-
    A JSON object as text from (key, SQL expression) pairs, e.g. the FOCUS Tags column:
    json_object_text([('tenant', 'lines.tenant_id'), ('workload', 'lines.workload')]).
    A NULL value is written as JSON null.
-#}
{% macro json_object_text(pairs) -%}
    {{ return(adapter.dispatch('json_object_text', 'ai_chargeback')(pairs)) }}
{%- endmacro %}

{% macro default__json_object_text(pairs) -%}
    {#- written out, so that the text is DuckDB's compact form (json_build_object adds spaces) -#}
    (
        '{'
        {%- for key, expression in pairs %}
        || '{{ "," if not loop.first }}"{{ key }}":'
        || coalesce(cast(to_json({{ expression }}) as {{ dbt.type_string() }}), 'null')
        {%- endfor %}
        || '}'
    )
{%- endmacro %}

{% macro duckdb__json_object_text(pairs) -%}
    cast(json_object(
        {%- for key, expression in pairs %}
        '{{ key }}', {{ expression }}{{ "," if not loop.last }}
        {%- endfor %}
    ) as varchar)
{%- endmacro %}

{#- Spark's to_json drops NULL fields unless told to keep them. -#}
{% macro spark__json_object_text(pairs) -%}
    to_json(
        named_struct(
            {%- for key, expression in pairs %}
            '{{ key }}', {{ expression }}{{ "," if not loop.last }}
            {%- endfor %}
        ),
        map('ignoreNullFields', 'false')
    )
{%- endmacro %}
