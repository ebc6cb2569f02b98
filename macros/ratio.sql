{#-
    numerator / denominator as a plain ratio (a share or a change), NULL when the denominator is
    0 or NULL. Ratios are not money: they are computed in double precision and rounded to six
    decimals for presentation; money itself is never divided (see allocate_proportionally).
    Postgres has no round(double precision, integer): the quotient is rounded as a numeric.
-#}
{% macro ratio(numerator, denominator) -%}
    {{ return(adapter.dispatch('ratio', 'ai_chargeback')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__ratio(numerator, denominator) -%}
    cast(
        round(
            cast(
                cast({{ numerator }} as double precision)
                / nullif(cast({{ denominator }} as double precision), 0)
                as numeric
            ),
            6
        ) as double precision
    )
{%- endmacro %}

{% macro duckdb__ratio(numerator, denominator) -%}
    round(
        cast({{ numerator }} as double precision)
        / nullif(cast({{ denominator }} as double precision), 0),
        6
    )
{%- endmacro %}

{% macro spark__ratio(numerator, denominator) -%}
    round(
        cast({{ numerator }} as double) / nullif(cast({{ denominator }} as double), 0),
        6
    )
{%- endmacro %}
