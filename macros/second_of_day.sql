{#- Whole seconds since UTC midnight (time-of-day price windows). -#}
{% macro second_of_day(ts) -%}
    (
        cast(extract(hour from {{ ts }}) as integer) * 3600
        + cast(extract(minute from {{ ts }}) as integer) * 60
        + cast(floor(extract(second from {{ ts }})) as integer)
    )
{%- endmacro %}
