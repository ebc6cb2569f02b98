{#-
    Cost of one priced row: Σ leaf token count × USD per token of the price-book row, as money.
    Token counts are inclusive, as in genai-prices: uncached input includes audio input; cache
    writes include 1-hour writes; output includes audio and reasoning. Each term prices the leaf
    count. A price the catalogue leaves empty (output of embedding models) has no priced parent
    either, and genai-prices charges those tokens 0: so does this.
    `t` is the relation holding the tokens, `p` the one holding the price-book row.
    Multiplying keeps DECIMAL (never divide money: DuckDB turns a DECIMAL division into DOUBLE).
-#}
{% macro token_cost(t, p) -%}
    cast(
        ({{ t }}.uncached_input_tokens - {{ t }}.input_audio_tokens)
        * coalesce({{ p }}.input_price_per_token, 0)
        + {{ t }}.cache_read_tokens * coalesce({{ p }}.cache_read_price_per_token, 0)
        + ({{ t }}.cache_write_tokens - {{ t }}.cache_write_1h_tokens)
        * coalesce({{ p }}.cache_write_price_per_token, 0)
        + {{ t }}.cache_write_1h_tokens
        * coalesce({{ p }}.cache_write_1h_price_per_token, 0)
        + {{ t }}.input_audio_tokens * coalesce({{ p }}.input_audio_price_per_token, 0)
        + ({{ t }}.output_tokens - {{ t }}.output_audio_tokens - {{ t }}.reasoning_tokens)
        * coalesce({{ p }}.output_price_per_token, 0)
        + {{ t }}.output_audio_tokens * coalesce({{ p }}.output_audio_price_per_token, 0)
        + {{ t }}.reasoning_tokens
        * coalesce({{ p }}.output_reasoning_price_per_token, 0)
        as {{ money_type() }}
    )
{%- endmacro %}
