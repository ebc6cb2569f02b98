{#-
    dbt.listagg on Spark: dbt-spark's version ignores the order_by_clause (collect_list has no
    order), so a request's routing decisions came out in any order. Here the values are
    collected with their sort key, sorted, then joined. The clause is one expression,
    'order by <expression> [asc|desc]'; NULL values are skipped, as string_agg skips them.
-#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if order_by_clause -%}
        {%- set expression = order_by_clause | trim -%}
        {%- set expression = modules.re.sub('(?i)^order\\s+by\\s+', '', expression) -%}
        {%- set descending = modules.re.search('(?i)\\s+desc$', expression) is not none -%}
        {%- set expression = modules.re.sub('(?i)\\s+(asc|desc)$', '', expression) -%}
        {%- set values -%}
            transform(
                array_sort(collect_list(struct({{ expression }} as sort_key, {{ measure }} as value))),
                entry -> entry.value
            )
        {%- endset -%}
        {%- if descending -%}
            {%- set values = 'reverse(' ~ values ~ ')' -%}
        {%- endif -%}
    {%- else -%}
        {%- set values = 'collect_list(' ~ measure ~ ')' -%}
    {%- endif -%}
    {%- if limit_num -%}
        {%- set values = 'slice(' ~ values ~ ', 1, ' ~ limit_num ~ ')' -%}
    {%- endif -%}
    array_join({{ values }}, {{ delimiter_text }})
{%- endmacro %}
