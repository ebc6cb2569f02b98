{#- Continuous percentile (p in 0..1) of a numeric column, as an aggregate. -#}
{% macro percentile(column, p) -%}
    {{ return(adapter.dispatch('percentile', 'ai_chargeback')(column, p)) }}
{%- endmacro %}

{% macro default__percentile(column, p) -%}
    percentile_cont({{ p }}) within group (order by {{ column }})
{%- endmacro %}

{% macro duckdb__percentile(column, p) -%}
    quantile_cont({{ column }}, {{ p }})
{%- endmacro %}

{#- Spark's percentile is exact and interpolates, as percentile_cont does. -#}
{% macro spark__percentile(column, p) -%}
    percentile({{ column }}, {{ p }})
{%- endmacro %}
