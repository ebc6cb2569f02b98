{#-
    dbt unit tests on Postgres compare the text of actual and expected values. A Postgres
    numeric without a declared scale keeps each value's own scale (a sum of DECIMAL(38, 12)
    shows 1.000000000000, the fixture's cast of 1 shows 1), where DuckDB's DECIMAL always has
    the declared scale. So numeric columns are compared by value: trailing zeros are trimmed
    on both sides. Otherwise this is dbt's default__get_unit_test_sql.
-#}
{% macro postgres__get_unit_test_sql(main_sql, expected_fixture_sql, expected_column_names) -%}
{%- set numeric_columns = [] -%}
{%- for column in adapter.get_column_schema_from_query(
    'select * from (' ~ main_sql ~ ') as _dbt_internal_unit_test_probe limit 0'
) -%}
    {%- if column.dtype | lower in ('decimal', 'numeric') -%}
        {%- do numeric_columns.append(adapter.quote(column.name) | lower) -%}
    {%- endif -%}
{%- endfor -%}
{%- set compared = [] -%}
{%- for name in expected_column_names -%}
    {%- if (name | lower) in numeric_columns -%}
        {%- do compared.append('trim_scale(' ~ name ~ ') as ' ~ name) -%}
    {%- else -%}
        {%- do compared.append(name) -%}
    {%- endif -%}
{%- endfor -%}
-- Build actual result given inputs
with dbt_internal_unit_test_actual as (
  select
    {{ compared | join(', ') }}, {{ dbt.string_literal("actual") }} as {{ adapter.quote("actual_or_expected") }}
  from (
    {{ main_sql }}
  ) _dbt_internal_unit_test_actual
),
-- Build expected result
dbt_internal_unit_test_expected as (
  select
    {{ compared | join(', ') }}, {{ dbt.string_literal("expected") }} as {{ adapter.quote("actual_or_expected") }}
  from (
    {{ expected_fixture_sql }}
  ) _dbt_internal_unit_test_expected
)
-- Union actual and expected results
select * from dbt_internal_unit_test_actual
union all
select * from dbt_internal_unit_test_expected
{%- endmacro %}
