{#-
    The gateway count is within tolerance_pct percent of the provider count (or the gateway did
    not report this token type). Compared by multiplication, so no division is needed.
-#}
{% macro within_tolerance(gateway_count, provider_count, tolerance_pct) -%}
    (
        {{ gateway_count }} is null
        or abs({{ gateway_count }} - ({{ provider_count }})) * 100
        <= {{ tolerance_pct }} * ({{ provider_count }})
    )
{%- endmacro %}
