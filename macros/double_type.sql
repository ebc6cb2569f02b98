{#- The double-precision float type (never money): Spark spells it `double`. -#}
{% macro double_type() -%}
    {{ return(adapter.dispatch('double_type', 'ai_chargeback')()) }}
{%- endmacro %}

{% macro default__double_type() -%}
    double precision
{%- endmacro %}

{% macro spark__double_type() -%}
    double
{%- endmacro %}
