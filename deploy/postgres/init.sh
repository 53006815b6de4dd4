#!/usr/bin/env bash
# Postgres first-start initialisation for the local fleet (docker-compose).
#
# Run once by the postgres image's entrypoint (/docker-entrypoint-initdb.d/)
# when the data volume is empty, as the superuser. Creates:
#   - database `shop`, closed to PUBLIC;
#   - per service a LOGIN role and a schema owned by it:
#       user_service          -> users
#       catalog_service       -> catalog
#       order_service         -> orders
#       notification_service  -> notifications
#     Each role may connect to `shop` and use only its own schema: no grant on
#     the other schemas, no CREATE on the database or on `public`.
#   - the extensions a service's migrations ask for, created here in that
#     service's schema because creating one needs CREATE on the database,
#     which the roles lack (the migration's `create extension if not exists`
#     is then a no-op): pg_trgm for catalog-service.
#
# Passwords come from the environment (see .env.example); the defaults are
# for a laptop only. Re-running is safe (idempotent). Also usable against any
# Postgres: PGHOST=... PGPORT=... POSTGRES_USER=... bash deploy/postgres/init.sh
set -euo pipefail

: "${SHOP_DB_NAME:=shop}"
: "${USER_SERVICE_DB_PASSWORD:=user_service_local_only}"
: "${CATALOG_SERVICE_DB_PASSWORD:=catalog_service_local_only}"
: "${ORDER_SERVICE_DB_PASSWORD:=order_service_local_only}"
: "${NOTIFICATION_SERVICE_DB_PASSWORD:=notification_service_local_only}"

psql_super() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" "$@"
}

# CREATE DATABASE cannot run in a transaction or a DO block: \gexec.
psql_super --dbname "${POSTGRES_DB:-postgres}" -v db="${SHOP_DB_NAME}" <<'SQL'
select format('create database %I', :'db')
where not exists (select from pg_database where datname = :'db') \gexec
SQL

psql_super --dbname "${SHOP_DB_NAME}" -v db="${SHOP_DB_NAME}" <<'SQL'
-- Only the roles granted below may connect; nobody creates in `public`.
revoke all on database :"db" from public;
revoke create on schema public from public;
SQL

# One role + schema. Values travel as psql variables (:'pw' is quoted by psql),
# never spliced into SQL by the shell.
create_service_schema() {
    local role="$1" schema="$2" password="$3"
    psql_super --dbname "${SHOP_DB_NAME}" \
        -v db="${SHOP_DB_NAME}" -v role="${role}" -v schema="${schema}" -v pw="${password}" <<'SQL'
select format('create role %I', :'role')
where not exists (select from pg_roles where rolname = :'role') \gexec
alter role :"role" with login nosuperuser nocreatedb nocreaterole noinherit
    noreplication nobypassrls password :'pw';
create schema if not exists :"schema" authorization :"role";
alter schema :"schema" owner to :"role";
revoke all on schema :"schema" from public;
grant connect, temporary on database :"db" to :"role";
alter role :"role" in database :"db" set search_path = :"schema";
SQL
    echo "init.sh: role ${role} owns schema ${schema} in database ${SHOP_DB_NAME}"
}

create_service_schema user_service users "${USER_SERVICE_DB_PASSWORD}"
create_service_schema catalog_service catalog "${CATALOG_SERVICE_DB_PASSWORD}"
create_service_schema order_service orders "${ORDER_SERVICE_DB_PASSWORD}"
create_service_schema notification_service notifications "${NOTIFICATION_SERVICE_DB_PASSWORD}"

# Extensions, in the schema of the service that uses them.
psql_super --dbname "${SHOP_DB_NAME}" <<'SQL'
create extension if not exists pg_trgm with schema catalog;
SQL
