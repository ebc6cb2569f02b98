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

{#-
    Spark has no 128-bit integer: the pico-dollar integers are DECIMAL(38, 0), whose product is
    exact (precision loss is disabled in the profile: an overflow is NULL, never a rounded
    value). Their quotient is DECIMAL(38, 18), rounded at the 18th decimal, so its integer part
    can be one too far; the last step takes it back when quotient x total exceeds the amount.
-#}
{% macro spark__allocate_proportionally(amount, weight, total) -%}
    {%- set numerator -%}
        (
            cast(cast({{ amount }} as {{ money_type() }}) * 1000000000000 as decimal(38, 0))
            * cast(cast({{ weight }} as {{ money_type() }}) * 1000000000000 as decimal(38, 0))
        )
    {%- endset -%}
    {%- set denominator -%}
        nullif(
            cast(cast({{ total }} as {{ money_type() }}) * 1000000000000 as decimal(38, 0)), 0
        )
    {%- endset -%}
    {%- set truncated -%}
        (
            case
                when {{ numerator }} / {{ denominator }} >= 0
                    then floor({{ numerator }} / {{ denominator }})
                else ceil({{ numerator }} / {{ denominator }})
            end
        )
    {%- endset -%}
    cast(
        cast(
            {{ truncated }}
            - case
                when abs({{ truncated }} * {{ denominator }}) > abs({{ numerator }})
                    then sign({{ truncated }})
                else 0
            end
            as decimal(25, 0)
        ) * cast(0.000000000001 as decimal(13, 12))
        as {{ money_type() }}
    )
{%- endmacro %}
