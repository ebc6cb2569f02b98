{#- The one money type of the warehouse (see DESIGN.md, Money): never a float. -#}
{% macro money_type() -%}
    decimal(38, 12)
{%- endmacro %}
