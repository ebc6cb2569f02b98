{#-
    Row-level security on Postgres, run as the on-run-end hook of every dbt invocation (a table
    model is rebuilt as a new table, so its grants and policies are re-applied after each run).
    Other engines: nothing to do (the DuckDB file has no users; readers get a snapshot).

    Design:
    - finance_admin (NOLOGIN group): reads every mart, all rows.
    - tenant_reader (NOLOGIN group): reads the tenant-bearing marts (a tenant_id or x_TenantId
      column) and only the rows of the tenants its login role is mapped to in
      security.tenant_roles (role_name, tenant_id). A tenant_reader with no mapping sees nothing;
      a role in neither group sees nothing (no grant, and row-level security denies by default).
    - Each tenant is a login role in tenant_reader plus one mapping row; a tenant reads only its
      own mapping row (RLS on security.tenant_roles), so tenants cannot learn about each other.
    - The table owner (the dbt / loader role) bypasses row-level security: it writes the data.
    The groups are created here when missing (needs CREATEROLE; scripts/postgres.sh creates them
    for the local cluster, a DBA can create them beforehand).
-#}
{% macro apply_row_level_security() -%}
    {{ return(adapter.dispatch('apply_row_level_security', 'ai_chargeback')()) }}
{%- endmacro %}

{% macro default__apply_row_level_security() -%}
    {{ return('') }}
{%- endmacro %}

{% macro postgres__apply_row_level_security() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set marts_schema = generate_schema_name('marts', none) -%}
    {%- set tenant_columns = ['tenant_id', 'x_TenantId'] -%}
    {%- set found = run_query(
        "select c.table_name, c.column_name"
        ~ " from information_schema.columns as c"
        ~ " inner join information_schema.tables as t"
        ~ " on t.table_schema = c.table_schema and t.table_name = c.table_name"
        ~ " where c.table_schema = '" ~ marts_schema ~ "'"
        ~ " and t.table_type = 'BASE TABLE'"
        ~ " order by c.table_name, c.ordinal_position"
    ) -%}
    {%- set tables = {} -%}
    {%- for row in found.rows -%}
        {%- if row[0] not in tables -%}
            {%- do tables.update({row[0]: none}) -%}
        {%- endif -%}
        {%- if row[1] in tenant_columns and tables[row[0]] is none -%}
            {%- do tables.update({row[0]: row[1]}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- do statements.append(
        "do $$ begin"
        ~ " if not exists (select from pg_roles where rolname = 'finance_admin') then"
        ~ " create role finance_admin nologin; end if;"
        ~ " if not exists (select from pg_roles where rolname = 'tenant_reader') then"
        ~ " create role tenant_reader nologin; end if;"
        ~ " end $$"
    ) -%}
    {%- do statements.append("create schema if not exists security") -%}
    {%- do statements.append(
        "create table if not exists security.tenant_roles ("
        ~ " role_name text not null, tenant_id text not null,"
        ~ " primary key (role_name, tenant_id))"
    ) -%}
    {%- do statements.append("alter table security.tenant_roles enable row level security") -%}
    {%- do statements.append("drop policy if exists own_mapping on security.tenant_roles") -%}
    {%- do statements.append(
        "create policy own_mapping on security.tenant_roles for select to tenant_reader"
        ~ " using (role_name = current_user)"
    ) -%}
    {%- do statements.append("drop policy if exists finance_admin_all on security.tenant_roles") -%}
    {%- do statements.append(
        "create policy finance_admin_all on security.tenant_roles for select to finance_admin"
        ~ " using (true)"
    ) -%}
    {%- do statements.append("grant usage on schema security to tenant_reader, finance_admin") -%}
    {%- do statements.append(
        "grant select on security.tenant_roles to tenant_reader, finance_admin"
    ) -%}
    {%- if tables -%}
        {%- set schema_sql = adapter.quote(marts_schema) -%}
        {%- do statements.append(
            "grant usage on schema " ~ schema_sql ~ " to tenant_reader, finance_admin"
        ) -%}
        {%- for table, tenant_column in tables.items() -%}
            {%- set relation = schema_sql ~ "." ~ adapter.quote(table) -%}
            {%- do statements.append("alter table " ~ relation ~ " enable row level security") -%}
            {%- do statements.append("drop policy if exists finance_admin_all on " ~ relation) -%}
            {%- do statements.append(
                "create policy finance_admin_all on " ~ relation
                ~ " for select to finance_admin using (true)"
            ) -%}
            {%- do statements.append("grant select on " ~ relation ~ " to finance_admin") -%}
            {%- do statements.append("drop policy if exists tenant_isolation on " ~ relation) -%}
            {%- if tenant_column is not none -%}
                {%- do statements.append(
                    "create policy tenant_isolation on " ~ relation
                    ~ " for select to tenant_reader using (" ~ adapter.quote(tenant_column)
                    ~ " in (select tenant_roles.tenant_id from security.tenant_roles"
                    ~ " where tenant_roles.role_name = current_user))"
                ) -%}
                {%- do statements.append("grant select on " ~ relation ~ " to tenant_reader") -%}
            {%- else -%}
                {%- do statements.append(
                    "revoke select on " ~ relation ~ " from tenant_reader"
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- do run_query("begin;\n" ~ statements | join(";\n") ~ ";\ncommit") -%}
    {{ log("row-level security applied to " ~ tables | length ~ " marts", info=false) }}
    {{ return('') }}
{%- endmacro %}
