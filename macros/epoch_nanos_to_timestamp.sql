{#- OTLP unix nanoseconds -> UTC timestamp (microsecond precision, as warehouses store it). -#}
{% macro epoch_nanos_to_timestamp(column) -%}
    {{ return(adapter.dispatch('epoch_nanos_to_timestamp', 'ai_chargeback')(column)) }}
{%- endmacro %}

{% macro default__epoch_nanos_to_timestamp(column) -%}
    (timestamp '1970-01-01 00:00:00' + ({{ column }} / 1000) * interval '1 microsecond')
{%- endmacro %}

{% macro duckdb__epoch_nanos_to_timestamp(column) -%}
    make_timestamp({{ column }} // 1000)
{%- endmacro %}

{% macro spark__epoch_nanos_to_timestamp(column) -%}
    timestamp_micros(cast({{ column }} div 1000 as bigint))
{%- endmacro %}
