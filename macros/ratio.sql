{#-
    numerator / denominator as a plain ratio (a share or a change), NULL when the denominator is
    0 or NULL. Ratios are not money: they are computed in double precision and rounded to six
    decimals for presentation; money itself is never divided (see allocate_proportionally).
-#}
{% macro ratio(numerator, denominator) -%}
    round(
        cast({{ numerator }} as double precision)
        / nullif(cast({{ denominator }} as double precision), 0),
        6
    )
{%- endmacro %}
