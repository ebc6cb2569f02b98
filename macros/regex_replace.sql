{#-
    Replace the first match of a regular expression (pattern and replacement given as plain
    text, groups referred to as \1 .. \9). Spark (Java) refers to groups as $1 and unescapes
    backslashes in string literals, and replaces every match: patterns passed here are anchored
    or match once.
-#}
{% macro regex_replace(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace', 'ai_chargeback')(text, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regex_replace(text, pattern, replacement) -%}
    regexp_replace(
        {{ text }}, '{{ pattern | replace("'", "''") }}', '{{ replacement | replace("'", "''") }}'
    )
{%- endmacro %}

{% macro spark__regex_replace(text, pattern, replacement) -%}
    {%- set java_replacement = modules.re.sub('\\\\([0-9])', '$\\1', replacement) -%}
    regexp_replace(
        {{ text }},
        '{{ pattern | replace("\\", "\\\\") | replace("'", "\\'") }}',
        '{{ java_replacement | replace("\\", "\\\\") | replace("'", "\\'") }}'
    )
{%- endmacro %}
