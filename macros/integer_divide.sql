{#-
    Integer division of two integers, truncated toward zero (durations in whole units).
    DuckDB's `/` returns a DOUBLE, so it uses `//`; Postgres divides integers as integers.
-#}
{% macro integer_divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('integer_divide', 'ai_chargeback')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__integer_divide(numerator, denominator) -%}
    (cast({{ numerator }} as bigint) / cast({{ denominator }} as bigint))
{%- endmacro %}

{% macro duckdb__integer_divide(numerator, denominator) -%}
    (({{ numerator }}) // ({{ denominator }}))
{%- endmacro %}

{#- Spark's `/` returns a DOUBLE as DuckDB's does; `div` truncates toward zero. -#}
{% macro spark__integer_divide(numerator, denominator) -%}
    (cast({{ numerator }} as bigint) div cast({{ denominator }} as bigint))
{%- endmacro %}
