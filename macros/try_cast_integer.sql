{#-
    Text -> integer, NULL when the text is not an integer (free text from product logs, such
    as prompt template versions, must not fail a build). DuckDB has try_cast; Postgres checks
    the text first (up to 9 digits, so the cast cannot overflow).
-#}
{% macro try_cast_integer(text) -%}
    {{ return(adapter.dispatch('try_cast_integer', 'ai_chargeback')(text)) }}
{%- endmacro %}

{% macro default__try_cast_integer(text) -%}
    case
        when {{ regex_matches(text, "'^[[:space:]]*[+-]?[0-9]{1,9}[[:space:]]*$'") }}
            then cast({{ text }} as integer)
    end
{%- endmacro %}

{% macro duckdb__try_cast_integer(text) -%}
    try_cast({{ text }} as integer)
{%- endmacro %}

{% macro spark__try_cast_integer(text) -%}
    case
        when {{ text }} rlike '^\\s*[+-]?[0-9]{1,9}\\s*$' then cast(trim({{ text }}) as int)
    end
{%- endmacro %}
