-- Baseline for benchmarks/run.py: the per-tenant monthly effective cost computed by one
-- hand-written DuckDB script straight from the landing files, with no loader, no dbt, no
-- Dagster, no audit trail and no tests. It must give exactly the totals of
-- marts.fct_ai_requests (sum of effective_cost_usd per tenant x month); run.py checks that.
--
-- It applies the same rules as the warehouse, written the short way:
--   * records the loaders quarantine are skipped (malformed lines, spans missing required
--     attributes, bad or negative counts, bad CSV rows, duplicate span exports);
--   * token authority: the provider's per-response record when there is one, else the
--     gateway's count (what seeds/token_authority_rules.csv reduces to);
--   * model resolution with seeds/model_aliases.csv (the genai-prices matching), pricing with
--     seeds/price_book.csv (period, time of day, prompt-length tier, service tier, batch) and
--     contract discounts with seeds/price_overrides.csv;
--   * tenant: the application log's, else the gateway key's, else the provider key's (valid at
--     the request's first attempt), else 'unattributed';
--   * a request with an unpriced attempt has a NULL cost; one without gateway traffic costs 0.
--
-- Inputs (DuckDB variables): landing = the landing directory, seeds = the dbt seeds folder.
--   set variable landing = '/path/to/landing'; set variable seeds = '/path/to/seeds';
-- The result is the last statement: tenant_id, billing_month, effective_cost_usd, requests.

set TimeZone = 'UTC';

-- ---------------------------------------------------------------- reference data (seeds)
create or replace temp table provider_aliases as
select * from read_csv(
    getvariable('seeds') || '/provider_aliases.csv', header = true,
    columns = {'provider_name': 'varchar', 'provider_id': 'varchar', 'description': 'varchar'}
);

create or replace temp table model_aliases as
select * from read_csv(
    getvariable('seeds') || '/model_aliases.csv', header = true,
    columns = {
        'provider_id': 'varchar', 'match_priority': 'integer', 'model_provider_id': 'varchar',
        'model_id': 'varchar', 'match_group': 'integer', 'match_kind': 'varchar',
        'match_value': 'varchar', 'is_negated': 'boolean', 'is_fallback': 'boolean'
    }
);

create or replace temp table price_book as
select * from read_csv(
    getvariable('seeds') || '/price_book.csv', header = true,
    columns = {
        'provider_id': 'varchar', 'model_id': 'varchar', 'model_name': 'varchar',
        'service_tier': 'varchar', 'processing': 'varchar',
        'effective_from': 'timestamp', 'effective_to': 'timestamp',
        'time_of_day_from_second': 'integer', 'time_of_day_to_second': 'integer',
        'tier_min_input_tokens': 'integer',
        'input_mtok': 'decimal(38, 12)', 'cache_read_mtok': 'decimal(38, 12)',
        'cache_write_mtok': 'decimal(38, 12)', 'cache_write_1h_mtok': 'decimal(38, 12)',
        'input_audio_mtok': 'decimal(38, 12)', 'cache_audio_read_mtok': 'decimal(38, 12)',
        'output_mtok': 'decimal(38, 12)', 'output_audio_mtok': 'decimal(38, 12)',
        'output_reasoning_mtok': 'decimal(38, 12)',
        'input_price_per_token': 'decimal(38, 18)',
        'cache_read_price_per_token': 'decimal(38, 18)',
        'cache_write_price_per_token': 'decimal(38, 18)',
        'cache_write_1h_price_per_token': 'decimal(38, 18)',
        'input_audio_price_per_token': 'decimal(38, 18)',
        'cache_audio_read_price_per_token': 'decimal(38, 18)',
        'output_price_per_token': 'decimal(38, 18)',
        'output_audio_price_per_token': 'decimal(38, 18)',
        'output_reasoning_price_per_token': 'decimal(38, 18)',
        'catalogue_price_keys': 'varchar', 'excluded_price_keys': 'varchar',
        'is_price_rounded': 'boolean', 'source': 'varchar'
    }
);

create or replace temp table price_overrides as
select * from read_csv(
    getvariable('seeds') || '/price_overrides.csv', header = true,
    columns = {
        'provider_id': 'varchar', 'model_id': 'varchar', 'discount_pct': 'decimal(9, 4)',
        'effective_from': 'timestamp', 'effective_to': 'timestamp',
        'contract_id': 'varchar', 'rationale': 'varchar'
    }
);

-- ---------------------------------------------------------------- gateway spans (OTLP JSON)
-- One row per span with the attributes the bill needs; an attribute value is read as its
-- text (intValue is a JSON string in OTLP JSON).
create or replace temp table span_rows as
with

lines as (
    -- read_ndjson_objects + json_transform with an explicit structure: the same parse as
    -- read_json(columns = ...), measured several times faster on 100-span OTLP lines
    select json_transform(json, '{"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "VARCHAR", "spanId": "VARCHAR", "parentSpanId": "VARCHAR",
        "kind": "VARCHAR", "startTimeUnixNano": "VARCHAR",
        "attributes": [{"key": "VARCHAR", "value": {
            "stringValue": "VARCHAR", "intValue": "VARCHAR", "boolValue": "VARCHAR",
            "doubleValue": "VARCHAR", "arrayValue": {"values": [{"stringValue": "VARCHAR"}]}
        }}],
        "status": {"code": "VARCHAR"}
    }]}]}]}').resourceSpans as resourceSpans
    from read_ndjson_objects(
        getvariable('landing') || '/gateway_spans/*/*.jsonl*', ignore_errors = true
    )
    -- a truncated export line is skipped (the loader quarantines it)
    where json_valid(json)
),

spans as (
    select unnest(
        flatten(flatten(list_transform(
            resourceSpans,
            lambda r: list_transform(r.scopeSpans, lambda s: s.spans)
        )))
    ) as span
    from lines
),

keyed as (
    select
        span,
        list_transform(span.attributes, lambda a: a.key) as attribute_keys
    from spans
),

picked as (
    select
        nullif(trim(span.traceId), '') as trace_id,
        nullif(trim(span.spanId), '') as span_id,
        nullif(trim(span.parentSpanId), '') as parent_span_id,
        nullif(trim(span.kind), '') as kind_text,
        nullif(trim(span.startTimeUnixNano), '') as start_text,
        nullif(trim(span.status.code), '') as status_text,
        span.attributes[list_position(attribute_keys, 'gen_ai.operation.name')]
            .value.stringValue as operation_name,
        coalesce(
            span.attributes[list_position(attribute_keys, 'gen_ai.provider.name')]
                .value.stringValue,
            span.attributes[list_position(attribute_keys, 'gen_ai.system')].value.stringValue
        ) as provider_text,
        span.attributes[list_position(attribute_keys, 'gen_ai.request.model')]
            .value.stringValue as request_model_text,
        span.attributes[list_position(attribute_keys, 'gen_ai.response.model')]
            .value.stringValue as response_model_text,
        span.attributes[list_position(attribute_keys, 'gen_ai.response.id')]
            .value.stringValue as response_id_text,
        span.attributes[list_position(attribute_keys, 'error.type')]
            .value.stringValue as error_type_text,
        span.attributes[list_position(attribute_keys, 'gateway.api_key.id')]
            .value.stringValue as gateway_key_text,
        span.attributes[list_position(attribute_keys, 'gateway.provider_key.id')]
            .value.stringValue as provider_key_text,
        coalesce(
            span.attributes[list_position(attribute_keys, 'openai.response.service_tier')]
                .value.stringValue,
            span.attributes[
                list_position(attribute_keys, 'gen_ai.openai.response.service_tier')
            ].value.stringValue
        ) as service_tier_text,
        list_transform(
            [
                span.attributes[list_position(attribute_keys, 'http.request.header.x-request-id')]
                    .value
            ],
            lambda v: coalesce(v.arrayValue."values"[1].stringValue, v.stringValue)
        )[1] as app_request_text,
        list_transform(
            [span.attributes[list_position(attribute_keys, 'gateway.request.batch')].value],
            lambda v: coalesce(v.boolValue, v.stringValue)
        )[1] as batch_text,
        -- counts: intValue, else a string or double the exporter wrote instead
        list_transform(
            [
                span.attributes[list_position(attribute_keys, 'gen_ai.usage.input_tokens')],
                span.attributes[list_position(attribute_keys, 'gen_ai.usage.prompt_tokens')],
                span.attributes[list_position(attribute_keys, 'gen_ai.usage.output_tokens')],
                span.attributes[
                    list_position(attribute_keys, 'gen_ai.usage.completion_tokens')
                ],
                span.attributes[
                    list_position(attribute_keys, 'gen_ai.usage.cache_read.input_tokens')
                ],
                span.attributes[
                    list_position(attribute_keys, 'gen_ai.usage.cache_read_input_tokens')
                ],
                span.attributes[
                    list_position(attribute_keys, 'gen_ai.usage.cache_creation.input_tokens')
                ],
                span.attributes[
                    list_position(attribute_keys, 'gen_ai.usage.cache_creation_input_tokens')
                ],
                span.attributes[
                    list_position(attribute_keys, 'gen_ai.usage.reasoning.output_tokens')
                ],
                span.attributes[
                    list_position(attribute_keys, 'gen_ai.usage.reasoning_tokens')
                ],
                span.attributes[list_position(attribute_keys, 'llm.usage.total_tokens')],
                span.attributes[list_position(attribute_keys, 'http.response.status_code')],
                span.attributes[list_position(attribute_keys, 'gateway.attempt')]
            ],
            lambda a: nullif(
                trim(coalesce(a.value.intValue, a.value.stringValue, a.value.doubleValue)), ''
            )
        ) as count_texts
    from keyed
),

checked as (
    select
        *,
        -- a count that is not a non-negative integer quarantines the whole span
        list_bool_or(list_transform(
            count_texts,
            lambda t: t is not null and (
                not regexp_full_match(t, '[+-]?[0-9]+')
                or coalesce(try_cast(t as bigint) < 0, true)
            )
        )) as has_bad_count,
        list_transform(count_texts, lambda t: try_cast(t as bigint)) as counts
    from picked
),

valid as (
    select * from checked
    where trace_id is not null
        and span_id is not null
        and regexp_full_match(coalesce(kind_text, ''), '[+-]?[0-9]+')
        and regexp_full_match(coalesce(start_text, ''), '[+-]?[0-9]+')
        and try_cast(start_text as bigint) is not null
        and (status_text is null or try_cast(status_text as bigint) is not null)
        and nullif(trim(operation_name), '') is not null
        and (
            kind_text <> '3'
            or (
                nullif(trim(provider_text), '') is not null
                and nullif(trim(request_model_text), '') is not null
            )
        )
        and (batch_text is null or try_cast(trim(batch_text) as boolean) is not null)
        and not has_bad_count
    -- at-least-once delivery: a re-exported span counts once
    qualify row_number() over (partition by trace_id, span_id) = 1
)

select
    trace_id,
    span_id,
    parent_span_id,
    cast(kind_text as integer) as span_kind,
    make_timestamp(cast(start_text as bigint) // 1000) as started_at,
    cast(status_text as integer) as otel_status_code,
    lower(nullif(trim(provider_text), '')) as provider_name,
    nullif(trim(request_model_text), '') as request_model,
    nullif(trim(response_model_text), '') as response_model,
    nullif(trim(response_id_text), '') as provider_response_id,
    nullif(trim(regexp_replace(
        nullif(trim(error_type_text), ''), '^<class ''(.*)''>$', '\1'
    )), '') as error_type,
    nullif(trim(gateway_key_text), '') as gateway_key_id,
    nullif(trim(provider_key_text), '') as provider_key_id,
    nullif(trim(app_request_text), '') as app_request_id,
    case
        when nullif(trim(service_tier_text), '') is null
            or lower(trim(service_tier_text)) in ('default', 'standard', 'auto')
            then 'default'
        else lower(trim(service_tier_text))
    end as service_tier,
    coalesce(try_cast(trim(batch_text) as boolean), false) as is_batch,
    coalesce(counts[1], counts[2]) as input_tokens,
    coalesce(counts[3], counts[4]) as output_tokens,
    coalesce(counts[5], counts[6]) as cache_read_tokens,
    coalesce(counts[7], counts[8]) as cache_write_tokens,
    coalesce(counts[9], counts[10]) as reasoning_tokens,
    counts[12] as http_status_code,
    counts[13] as attempt_number
from valid;

-- ---------------------------------------------------------------- LiteLLM spend logs (CSV)
create or replace temp table spend_log_attempts as
with

rows_ as (
    select *
    from read_csv(
        getvariable('landing') || '/gateway_spend_logs/*/*.csv*',
        header = true,
        ignore_errors = true,
        all_varchar = true
    )
),

valid as (
    select *
    from rows_
    where nullif(trim(request_id), '') is not null
        and nullif(trim(model), '') is not null
        and try_cast(nullif(trim("startTime"), '') as timestamptz) is not null
        and list_bool_and(list_transform(
            [prompt_tokens, completion_tokens, total_tokens],
            lambda t: nullif(trim(t), '') is null or (
                regexp_full_match(trim(t), '[+-]?[0-9]+') and try_cast(trim(t) as bigint) >= 0
            )
        ))
        and (nullif(trim(metadata), '') is null or json_valid(trim(metadata)))
        and (nullif(trim(request_tags), '') is null or json_valid(trim(request_tags)))
)

select
    'litellm:' || trim(request_id) as attempt_id,
    json_extract_string(trim(metadata), '$.spend_logs_metadata.app_request_id')
        as app_request_id,
    'litellm:' || trim(request_id) as gateway_request_id,
    nullif(trim(api_key), '') as gateway_key_id,
    cast(null as varchar) as provider_key_id,
    lower(nullif(trim(custom_llm_provider), '')) as provider_name,
    nullif(trim(model), '') as resolved_model,
    1 as attempt_number,
    'default' as service_tier,
    false as is_batch,
    true as is_success,
    cast(null as bigint) as gateway_uncached_input_tokens,
    cast(null as bigint) as gateway_cache_read_tokens,
    cast(null as bigint) as gateway_cache_write_tokens,
    cast(nullif(trim(completion_tokens), '') as bigint) as gateway_output_tokens,
    cast(null as bigint) as gateway_reasoning_tokens,
    nullif(trim(request_id), '') as provider_response_id,
    timezone('UTC', cast(trim("startTime") as timestamptz)) as started_at
from valid;

-- ---------------------------------------------------------------- provider per-response usage
create or replace temp table provider_usage as
with

records as (
    select *
    from read_json(
        getvariable('landing') || '/provider_response_usage/*/*.jsonl*',
        format = 'newline_delimited',
        ignore_errors = true,
        filename = true,
        columns = {
            'provider': 'varchar', 'response_id': 'varchar', 'model': 'varchar',
            'created_at': 'varchar',
            'usage': 'struct(
                prompt_tokens bigint, completion_tokens bigint,
                prompt_tokens_details struct(cached_tokens bigint, audio_tokens bigint),
                completion_tokens_details struct(reasoning_tokens bigint, audio_tokens bigint),
                input_tokens bigint, output_tokens bigint,
                cache_read_input_tokens bigint, cache_creation_input_tokens bigint,
                cache_creation struct(ephemeral_1h_input_tokens bigint),
                "promptTokenCount" bigint, "cachedContentTokenCount" bigint,
                "candidatesTokenCount" bigint, "thoughtsTokenCount" bigint
            )'
        }
    )
    where nullif(trim(provider), '') is not null
        and nullif(trim(response_id), '') is not null
        and nullif(trim(model), '') is not null
        and try_cast(nullif(trim(created_at), '') as timestamptz) is not null
    -- a provider export may deliver a response twice: the latest delivery wins
    qualify row_number() over (
        partition by lower(trim(provider)), trim(response_id) order by filename desc
    ) = 1
)

select
    lower(trim(provider)) as provider_name,
    trim(response_id) as provider_response_id,
    case lower(trim(provider))
        when 'openai'
            then usage.prompt_tokens - coalesce(usage.prompt_tokens_details.cached_tokens, 0)
        when 'anthropic' then usage.input_tokens
        when 'google' then usage."promptTokenCount" - coalesce(usage."cachedContentTokenCount", 0)
    end as uncached_input_tokens,
    case lower(trim(provider))
        when 'openai' then coalesce(usage.prompt_tokens_details.cached_tokens, 0)
        when 'anthropic' then coalesce(usage.cache_read_input_tokens, 0)
        when 'google' then coalesce(usage."cachedContentTokenCount", 0)
    end as cache_read_tokens,
    case lower(trim(provider))
        when 'anthropic' then coalesce(usage.cache_creation_input_tokens, 0) else 0
    end as cache_write_tokens,
    case lower(trim(provider))
        when 'anthropic' then coalesce(usage.cache_creation.ephemeral_1h_input_tokens, 0)
        else 0
    end as cache_write_1h_tokens,
    case lower(trim(provider))
        when 'openai' then usage.completion_tokens
        when 'anthropic' then usage.output_tokens
        when 'google'
            then coalesce(usage."candidatesTokenCount", 0)
            + coalesce(usage."thoughtsTokenCount", 0)
    end as output_tokens,
    case lower(trim(provider))
        when 'openai' then coalesce(usage.completion_tokens_details.reasoning_tokens, 0)
        when 'google' then coalesce(usage."thoughtsTokenCount", 0)
        else 0
    end as reasoning_tokens,
    coalesce(usage.prompt_tokens_details.audio_tokens, 0) as input_audio_tokens,
    coalesce(usage.completion_tokens_details.audio_tokens, 0) as output_audio_tokens
from records;

-- ---------------------------------------------------------------- attempts, both gateways
create or replace temp table attempts as
with

server_spans as (
    select
        trace_id,
        app_request_id,
        gateway_key_id
    from span_rows
    where span_kind = 2
    qualify row_number() over (
        partition by trace_id
        order by case when parent_span_id is null then 0 else 1 end, started_at, span_id
    ) = 1
),

span_attempts as (
    select
        span_rows.span_id as attempt_id,
        server_spans.app_request_id,
        'trace:' || span_rows.trace_id as gateway_request_id,
        server_spans.gateway_key_id,
        span_rows.provider_key_id,
        span_rows.provider_name,
        coalesce(span_rows.response_model, span_rows.request_model) as resolved_model,
        coalesce(
            span_rows.attempt_number,
            row_number() over (
                partition by span_rows.trace_id order by span_rows.started_at, span_rows.span_id
            )
        ) as attempt_number,
        span_rows.service_tier,
        span_rows.is_batch,
        span_rows.error_type is null
        and coalesce(span_rows.http_status_code between 200 and 299, true)
        and coalesce(span_rows.otel_status_code, 0) <> 2 as is_success,
        span_rows.input_tokens
        - span_rows.cache_read_tokens
        - coalesce(
            span_rows.cache_write_tokens,
            case when span_rows.cache_read_tokens is not null then 0 end
        ) as gateway_uncached_input_tokens,
        span_rows.cache_read_tokens as gateway_cache_read_tokens,
        coalesce(
            span_rows.cache_write_tokens,
            case when span_rows.cache_read_tokens is not null then 0 end
        ) as gateway_cache_write_tokens,
        span_rows.output_tokens as gateway_output_tokens,
        span_rows.reasoning_tokens as gateway_reasoning_tokens,
        span_rows.provider_response_id,
        span_rows.started_at
    from span_rows
    left join server_spans
        on span_rows.trace_id = server_spans.trace_id
    where span_rows.span_kind = 3
),

unioned as (
    select
        attempt_id, app_request_id, gateway_request_id, gateway_key_id, provider_key_id,
        provider_name, resolved_model, attempt_number, service_tier, is_batch, is_success,
        gateway_uncached_input_tokens, gateway_cache_read_tokens, gateway_cache_write_tokens,
        gateway_output_tokens, gateway_reasoning_tokens, provider_response_id, started_at
    from span_attempts
    union all
    select
        attempt_id, app_request_id, gateway_request_id, gateway_key_id, provider_key_id,
        provider_name, resolved_model, attempt_number, service_tier, is_batch, is_success,
        gateway_uncached_input_tokens, gateway_cache_read_tokens, gateway_cache_write_tokens,
        gateway_output_tokens, gateway_reasoning_tokens, provider_response_id, started_at
    from spend_log_attempts
),

joined as (
    select
        unioned.*,
        coalesce(provider_aliases.provider_id, unioned.provider_name) as provider_id,
        usage.provider_response_id is not null as has_record,
        usage.uncached_input_tokens as record_uncached_input_tokens,
        usage.cache_read_tokens as record_cache_read_tokens,
        usage.cache_write_tokens as record_cache_write_tokens,
        usage.cache_write_1h_tokens as record_cache_write_1h_tokens,
        usage.output_tokens as record_output_tokens,
        usage.reasoning_tokens as record_reasoning_tokens,
        usage.input_audio_tokens as record_input_audio_tokens,
        usage.output_audio_tokens as record_output_audio_tokens
    from unioned
    left join provider_usage as usage
        on unioned.provider_response_id = usage.provider_response_id
        and unioned.provider_name = usage.provider_name
    left join provider_aliases
        on unioned.provider_name = provider_aliases.provider_name
)

-- billed tokens: the provider's record when there is one, else the gateway's count
select
    attempt_id,
    coalesce(app_request_id, gateway_request_id) as request_id,
    gateway_key_id,
    provider_key_id,
    provider_name,
    provider_id,
    resolved_model,
    attempt_number,
    service_tier,
    case when is_batch then 'batch' else 'standard' end as processing,
    is_success,
    started_at,
    if(has_record, record_uncached_input_tokens, gateway_uncached_input_tokens)
        as uncached_input_tokens,
    if(has_record, record_cache_read_tokens, gateway_cache_read_tokens) as cache_read_tokens,
    if(has_record, record_cache_write_tokens, gateway_cache_write_tokens)
        as cache_write_tokens,
    if(has_record, record_cache_write_1h_tokens, 0) as cache_write_1h_tokens,
    if(has_record, record_output_tokens, gateway_output_tokens) as output_tokens,
    if(has_record, record_reasoning_tokens, coalesce(gateway_reasoning_tokens, 0))
        as reasoning_tokens,
    if(has_record, record_input_audio_tokens, 0) as input_audio_tokens,
    if(has_record, record_output_audio_tokens, 0) as output_audio_tokens
from joined;

-- ---------------------------------------------------------------- model resolution
-- genai-prices matching over the distinct model strings (a few dozen), as int_models__resolved
create or replace temp table models as
with

observed as (
    select distinct
        attempts.provider_name,
        attempts.resolved_model as model_string,
        attempts.provider_id,
        lower(trim(attempts.resolved_model)) as model_ref
    from attempts
    where attempts.resolved_model is not null
),

refs as (
    select *, 1 as match_pass, model_ref as candidate_ref from observed
    union all
    select
        *,
        2 as match_pass,
        regexp_replace(
            model_ref, '-(\d{4})(\d{2})(\d{2})(\b|$)', '-\1-\2-\3\4'
        ) as candidate_ref
    from observed
),

clauses as (
    select
        refs.provider_name,
        refs.model_string,
        refs.match_pass,
        model_aliases.provider_id as alias_provider_id,
        model_aliases.model_provider_id,
        model_aliases.model_id,
        model_aliases.match_priority,
        model_aliases.match_group,
        model_aliases.is_fallback,
        (
            case model_aliases.match_kind
                when 'equals' then refs.candidate_ref = model_aliases.match_value
                when 'starts_with'
                    then starts_with(refs.candidate_ref, model_aliases.match_value)
                when 'ends_with' then ends_with(refs.candidate_ref, model_aliases.match_value)
                when 'contains'
                    then position(model_aliases.match_value in refs.candidate_ref) > 0
                when 'regex'
                    then regexp_matches(refs.candidate_ref, model_aliases.match_value)
            end
        ) <> model_aliases.is_negated as is_clause_match
    from refs
    inner join model_aliases
        on model_aliases.provider_id = refs.provider_id
        or (refs.provider_id is null and not model_aliases.is_fallback)
),

matched as (
    select
        provider_name, model_string, match_pass, alias_provider_id, model_provider_id,
        model_id, match_priority, is_fallback
    from clauses
    group by
        provider_name, model_string, match_pass, alias_provider_id, model_provider_id,
        model_id, match_priority, match_group, is_fallback
    having bool_and(is_clause_match)
)

select
    provider_name,
    model_string,
    model_provider_id as price_provider_id,
    model_id,
    coalesce(is_fallback, false) as is_fallback_provider
from matched
qualify row_number() over (
    partition by provider_name, model_string
    order by
        match_pass,
        case when alias_provider_id in ('openai', 'anthropic', 'google') then 0 else 1 end,
        alias_provider_id,
        match_priority
) = 1;

-- ---------------------------------------------------------------- pricing
create or replace temp table priced_attempts as
with

to_price as (
    select
        attempts.*,
        models.price_provider_id,
        models.model_id,
        coalesce(models.is_fallback_provider, false) as is_fallback_provider,
        attempts.uncached_input_tokens + attempts.cache_read_tokens
        + attempts.cache_write_tokens as input_tokens,
        case
            when not attempts.is_success and attempts.uncached_input_tokens is null
                and attempts.output_tokens is null
                then 'no_usage'
            when models.model_id is null
                or attempts.uncached_input_tokens is null
                or attempts.cache_read_tokens is null
                or attempts.cache_write_tokens is null
                or attempts.output_tokens is null
                then 'unpriced'
            else 'to_price'
        end as pre_status,
        hour(attempts.started_at) * 3600 + minute(attempts.started_at) * 60
        + second(attempts.started_at) as second_of_day
    from attempts
    left join models
        on attempts.provider_name is not distinct from models.provider_name
        and attempts.resolved_model = models.model_string
),

prices as (
    select
        to_price.attempt_id,
        price_book.input_price_per_token,
        price_book.cache_read_price_per_token,
        price_book.cache_write_price_per_token,
        price_book.cache_write_1h_price_per_token,
        price_book.input_audio_price_per_token,
        price_book.output_price_per_token,
        price_book.output_audio_price_per_token,
        price_book.output_reasoning_price_per_token
    from to_price
    inner join price_book
        on to_price.price_provider_id = price_book.provider_id
        and to_price.model_id = price_book.model_id
        and to_price.started_at >= price_book.effective_from
        and to_price.started_at < price_book.effective_to
        and to_price.second_of_day >= price_book.time_of_day_from_second
        and to_price.second_of_day < price_book.time_of_day_to_second
        and price_book.tier_min_input_tokens <= to_price.input_tokens
        and (
            price_book.service_tier = 'default'
            or (
                price_book.service_tier = to_price.service_tier
                and not to_price.is_fallback_provider
            )
        )
        and (
            price_book.processing = 'standard'
            or (
                price_book.processing = to_price.processing
                and not to_price.is_fallback_provider
            )
        )
    where to_price.pre_status = 'to_price'
    qualify row_number() over (
        partition by to_price.attempt_id
        order by
            case when price_book.service_tier = to_price.service_tier then 0 else 1 end,
            case when price_book.processing = to_price.processing then 0 else 1 end,
            price_book.tier_min_input_tokens desc
    ) = 1
),

costed as (
    select
        to_price.attempt_id,
        to_price.request_id,
        to_price.provider_id,
        to_price.model_id,
        to_price.started_at,
        to_price.attempt_number,
        to_price.gateway_key_id,
        to_price.provider_key_id,
        case
            when to_price.pre_status = 'no_usage' then 'no_usage'
            when to_price.pre_status = 'unpriced' or prices.attempt_id is null then 'unpriced'
            else 'priced'
        end as pricing_status,
        case
            when to_price.pre_status = 'no_usage' then cast(0 as decimal(38, 12))
            when prices.attempt_id is not null then cast(
                (to_price.uncached_input_tokens - to_price.input_audio_tokens)
                * coalesce(prices.input_price_per_token, 0)
                + to_price.cache_read_tokens * coalesce(prices.cache_read_price_per_token, 0)
                + (to_price.cache_write_tokens - to_price.cache_write_1h_tokens)
                * coalesce(prices.cache_write_price_per_token, 0)
                + to_price.cache_write_1h_tokens
                * coalesce(prices.cache_write_1h_price_per_token, 0)
                + to_price.input_audio_tokens * coalesce(prices.input_audio_price_per_token, 0)
                + (
                    to_price.output_tokens - to_price.output_audio_tokens
                    - to_price.reasoning_tokens
                )
                * coalesce(prices.output_price_per_token, 0)
                + to_price.output_audio_tokens
                * coalesce(prices.output_audio_price_per_token, 0)
                + to_price.reasoning_tokens
                * coalesce(prices.output_reasoning_price_per_token, 0)
                as decimal(38, 12)
            )
        end as list_cost_usd
    from to_price
    left join prices
        on to_price.attempt_id = prices.attempt_id
),

discounts as (
    select
        costed.attempt_id,
        price_overrides.discount_pct
    from costed
    inner join price_overrides
        on costed.provider_id = price_overrides.provider_id
        and (price_overrides.model_id = '*' or price_overrides.model_id = costed.model_id)
        and costed.started_at >= price_overrides.effective_from
        and costed.started_at < price_overrides.effective_to
    qualify row_number() over (
        partition by costed.attempt_id
        order by
            case when price_overrides.model_id = '*' then 1 else 0 end,
            price_overrides.effective_from desc
    ) = 1
)

select
    costed.*,
    cast(
        costed.list_cost_usd
        * (100 - coalesce(discounts.discount_pct, 0))
        * cast(0.01 as decimal(3, 2))
        as decimal(38, 12)
    ) as effective_cost_usd
from costed
left join discounts
    on costed.attempt_id = discounts.attempt_id;

-- ---------------------------------------------------------------- requests and tenants
with

gateway_requests as (
    select
        request_id,
        min(started_at) as first_attempt_at,
        arg_max_null(gateway_key_id, (started_at, attempt_number)) as gateway_key_id,
        arg_max_null(provider_key_id, (started_at, attempt_number)) as final_provider_key_id,
        case
            when count(*) filter (where pricing_status = 'unpriced') = 0
                then sum(effective_cost_usd)
        end as effective_cost_usd
    from priced_attempts
    group by request_id
),

app_requests as (
    select
        trim(app_request_id) as app_request_id,
        nullif(trim(tenant_id), '') as tenant_id,
        timezone('UTC', cast(trim(ts) as timestamptz)) as requested_at
    from read_json(
        getvariable('landing') || '/app_requests/*/*.jsonl*',
        format = 'newline_delimited',
        ignore_errors = true,
        filename = true,
        columns = {'app_request_id': 'varchar', 'ts': 'varchar', 'tenant_id': 'varchar'}
    )
    where nullif(trim(app_request_id), '') is not null
        and try_cast(nullif(trim(ts), '') as timestamptz) is not null
    -- a product may log a request again: the latest delivery wins
    qualify row_number() over (partition by trim(app_request_id) order by filename desc) = 1
),

api_keys as (
    select
        nullif(trim(api_key_id), '') as api_key_id,
        nullif(trim(key_hash), '') as key_hash,
        nullif(trim(tenant_id), '') as tenant_id,
        nullif(trim(key_kind), '') as key_kind,
        timezone('UTC', cast(nullif(trim(valid_from), '') as timestamptz)) as valid_from,
        timezone('UTC', cast(nullif(trim(valid_to), '') as timestamptz)) as valid_to
    from read_csv(
        getvariable('landing') || '/api_keys/*/*.csv*',
        header = true,
        all_varchar = true,
        filename = true
    )
    -- each delivery is a full snapshot: the latest one is the truth
    qualify filename = max(filename) over ()
),

requests as (
    select
        coalesce(app_requests.app_request_id, gateway_requests.request_id) as request_id,
        app_requests.tenant_id as app_tenant_id,
        gateway_requests.request_id is not null as has_gateway_traffic,
        coalesce(app_requests.requested_at, gateway_requests.first_attempt_at) as requested_at,
        gateway_requests.first_attempt_at,
        gateway_requests.gateway_key_id,
        gateway_requests.final_provider_key_id,
        gateway_requests.effective_cost_usd
    from app_requests
    full outer join gateway_requests
        on app_requests.app_request_id = gateway_requests.request_id
),

key_tenants as (
    select
        requests.request_id,
        max(case when api_keys.key_kind = 'gateway' then api_keys.tenant_id end)
            as gateway_key_tenant_id,
        max(case when api_keys.key_kind = 'provider' then api_keys.tenant_id end)
            as provider_key_tenant_id
    from requests
    inner join api_keys
        on (
            api_keys.api_key_id in (requests.gateway_key_id, requests.final_provider_key_id)
            or api_keys.key_hash = requests.gateway_key_id
        )
        and requests.first_attempt_at >= api_keys.valid_from
        and (api_keys.valid_to is null or requests.first_attempt_at < api_keys.valid_to)
    where requests.app_tenant_id is null
    group by requests.request_id
)

select
    coalesce(
        requests.app_tenant_id,
        key_tenants.gateway_key_tenant_id,
        key_tenants.provider_key_tenant_id,
        'unattributed'
    ) as tenant_id,
    strftime(cast(requests.requested_at as date), '%Y-%m') as billing_month,
    sum(
        case
            when not requests.has_gateway_traffic then cast(0 as decimal(38, 12))
            else requests.effective_cost_usd
        end
    ) as effective_cost_usd,
    count(*) as requests
from requests
left join key_tenants
    on requests.request_id = key_tenants.request_id
group by all
order by tenant_id, billing_month;
