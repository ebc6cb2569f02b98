{#- Providers name the base tier differently (OpenAI 'default', Anthropic 'standard'). -#}
{% macro normalize_service_tier(column) -%}
    case
        when {{ column }} is null or lower({{ column }}) in ('default', 'standard', 'auto')
            then 'default'
        else lower({{ column }})
    end
{%- endmacro %}
