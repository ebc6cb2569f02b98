{#-
    Keyed hash of an identifier (user ids): sha256 of the key, a separator and the value, as hex.
    The key comes from AI_CHARGEBACK_USER_HASH_KEY (dbt var user_hash_key); without the key the
    hash cannot be recomputed from a guessed e-mail address.
-#}
{% macro keyed_hash(column) -%}
    {{ return(adapter.dispatch('keyed_hash', 'ai_chargeback')(column)) }}
{%- endmacro %}

{% macro default__keyed_hash(column) -%}
    case when {{ column }} is not null then
        encode(sha256(convert_to({{ "'" ~ var('user_hash_key') | replace("'", "''") ~ "'" }}
            || chr(31) || {{ column }}, 'UTF8')), 'hex')
    end
{%- endmacro %}

{% macro duckdb__keyed_hash(column) -%}
    case when {{ column }} is not null then
        sha256({{ "'" ~ var('user_hash_key') | replace("'", "''") ~ "'" }} || chr(31) || {{ column }})
    end
{%- endmacro %}

{% macro spark__keyed_hash(column) -%}
    case when {{ column }} is not null then
        sha2({{ "'" ~ var('user_hash_key') | replace("'", "''") ~ "'" }} || chr(31) || {{ column }}, 256)
    end
{%- endmacro %}
