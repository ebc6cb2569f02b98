{#- Some instrumentations write the stringified class ("<class 'openai.RateLimitError'>"). -#}
{% macro normalize_error_type(column) -%}
    nullif(trim({{ regex_replace(column, "^<class '(.*)'>$", "\\1") }}), '')
{%- endmacro %}
