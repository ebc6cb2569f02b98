{#-
    amount x weight / total as money, rounded toward zero at 12 decimals: the one division on the
    money path (DESIGN.md, Decimal arithmetic traps). DuckDB turns a DECIMAL division into a
    DOUBLE, so it divides exact integers of pico-dollars (HUGEINT) instead; other engines divide
    NUMERIC exactly. Callers give the rounding residue to one line so that shares add up exactly.
-#}
{% macro allocate_proportionally(amount, weight, total) -%}
    {{ return(adapter.dispatch('allocate_proportionally', 'ai_chargeback')(amount, weight, total)) }}
{%- endmacro %}

{% macro default__allocate_proportionally(amount, weight, total) -%}
    cast(
        trunc(
            cast({{ amount }} as numeric) * cast({{ weight }} as numeric)
            / nullif(cast({{ total }} as numeric), 0),
            12
        ) as {{ money_type() }}
    )
{%- endmacro %}

{% macro duckdb__allocate_proportionally(amount, weight, total) -%}
    cast(
        cast(
            (
                cast(cast({{ amount }} as {{ money_type() }}) * 1000000000000 as hugeint)
                * cast(cast({{ weight }} as {{ money_type() }}) * 1000000000000 as hugeint)
            ) // nullif(
                cast(cast({{ total }} as {{ money_type() }}) * 1000000000000 as hugeint), 0
            ) as decimal(38, 0)
        ) * cast(0.000000000001 as decimal(13, 12))
        as {{ money_type() }}
    )
{%- endmacro %}
