#!/usr/bin/env bash
# A local PostgreSQL for the Postgres target and its tests: its own cluster under .postgres/
# (gitignored), listening on 127.0.0.1 only, run by a non-root system user (PostgreSQL refuses
# to run as root). Idempotent: `start` installs Debian's postgresql package when missing
# (root only), creates the cluster, the database and the roles once, and starts the server if it
# is not running; `stop` stops it cleanly; `status` says whether it runs.
#
# Environment (defaults in brackets; profiles.yml and orchestration/lib/postgres.py read the
# same variables). Exit status 2: PostgreSQL is not installed and cannot be installed here.
#   AI_CHARGEBACK_PG_HOST [127.0.0.1]  AI_CHARGEBACK_PG_PORT [55432]
#   AI_CHARGEBACK_PG_USER [ai_chargeback]  AI_CHARGEBACK_PG_PASSWORD [ai_chargeback]
#   AI_CHARGEBACK_PG_DBNAME [ai_chargeback]
#   AI_CHARGEBACK_PG_DIR [<repo>/.postgres]  (data directory, socket and log)
#   AI_CHARGEBACK_PG_OS_USER [postgres]  (the system user the server runs as)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HOST="${AI_CHARGEBACK_PG_HOST:-127.0.0.1}"
PORT="${AI_CHARGEBACK_PG_PORT:-55432}"
DB_USER="${AI_CHARGEBACK_PG_USER:-ai_chargeback}"
DB_PASSWORD="${AI_CHARGEBACK_PG_PASSWORD:-ai_chargeback}"
DB_NAME="${AI_CHARGEBACK_PG_DBNAME:-ai_chargeback}"
PG_DIR="${AI_CHARGEBACK_PG_DIR:-${ROOT}/.postgres}"
OS_USER="${AI_CHARGEBACK_PG_OS_USER:-postgres}"
DATA_DIR="${PG_DIR}/data"
SOCKET_DIR="${PG_DIR}/run"
LOG_FILE="${PG_DIR}/server.log"

log() { echo "postgres.sh: $*" >&2; }

# The server binaries of the newest installed major version (Debian keeps them off PATH).
pg_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "${dir}" && -x "${dir}/pg_ctl" ]]; then
        echo "${dir}"
    fi
}

install_if_missing() {
    if [[ -n "$(pg_bin)" ]]; then
        return 0
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        log "PostgreSQL server binaries missing and not root: sudo apt-get install -y postgresql"
        exit 2
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "PostgreSQL server binaries missing and apt-get not available"
        exit 2
    fi
    log "installing Debian's postgresql package"
    apt-get update || { log "apt-get update failed: PostgreSQL unavailable"; exit 2; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql \
        || { log "apt-get install postgresql failed: PostgreSQL unavailable"; exit 2; }
    if [[ -z "$(pg_bin)" ]]; then
        log "apt-get installed postgresql but no server binaries under /usr/lib/postgresql"
        exit 2
    fi
}

# Run a command as the server's system user (creating that user if needed, when root).
as_os_user() {
    if [[ "$(id -u)" -ne 0 ]]; then
        "$@"
        return
    fi
    if ! id -u "${OS_USER}" >/dev/null 2>&1; then
        log "creating system user ${OS_USER}"
        useradd --system --no-create-home --shell /usr/sbin/nologin "${OS_USER}"
    fi
    if command -v runuser >/dev/null 2>&1; then
        runuser -u "${OS_USER}" -- "$@"
    else
        su -s /bin/sh "${OS_USER}" -c "$(printf '%q ' "$@")"
    fi
}

is_running() {
    local bin
    bin="$(pg_bin)"
    [[ -n "${bin}" && -f "${DATA_DIR}/PG_VERSION" ]] || return 1
    as_os_user "${bin}/pg_ctl" -D "${DATA_DIR}" status >/dev/null 2>&1
}

psql_admin() {
    # Superuser over the cluster's own socket (trust for the local OS user only).
    as_os_user "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "${SOCKET_DIR}" -p "${PORT}" \
        -U postgres -d "${1}" "${@:2}"
}

init_cluster() {
    local bin
    bin="$(pg_bin)"
    mkdir -p "${PG_DIR}" "${SOCKET_DIR}"
    if [[ "$(id -u)" -eq 0 ]]; then
        as_os_user true  # creates the system user if missing
        chown "${OS_USER}" "${PG_DIR}" "${SOCKET_DIR}"
    fi
    chmod 0700 "${PG_DIR}"
    if [[ -f "${DATA_DIR}/PG_VERSION" ]]; then
        return 0
    fi
    log "initdb ${DATA_DIR}"
    as_os_user "${bin}/initdb" -D "${DATA_DIR}" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    # Local development and tests only: TCP on the loopback address, socket in .postgres/run.
    cat >>"${DATA_DIR}/postgresql.conf" <<EOF

# scripts/postgres.sh
listen_addresses = '${HOST}'
port = ${PORT}
unix_socket_directories = '${SOCKET_DIR}'
timezone = 'UTC'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
shared_buffers = 128MB
EOF
}

create_database_and_roles() {
    local quoted_password="${DB_PASSWORD//\'/\'\'}"
    psql_admin postgres -v db_user="${DB_USER}" -v db_name="${DB_NAME}" <<EOF
set client_min_messages = warning;
select format('create role %I login createrole password %L', :'db_user', '${quoted_password}')
where not exists (select from pg_roles where rolname = :'db_user') \gexec
select format('alter role %I login createrole password %L', :'db_user', '${quoted_password}')
\gexec
select format('create database %I owner %I', :'db_name', :'db_user')
where not exists (select from pg_database where datname = :'db_name') \gexec
-- the groups of the row-level security design (macros/apply_row_level_security.sql)
select 'create role finance_admin nologin'
where not exists (select from pg_roles where rolname = 'finance_admin') \gexec
select 'create role tenant_reader nologin'
where not exists (select from pg_roles where rolname = 'tenant_reader') \gexec
select format('grant finance_admin, tenant_reader to %I with admin option', :'db_user')
\gexec
EOF
}

start() {
    install_if_missing
    init_cluster
    if is_running; then
        log "running on ${HOST}:${PORT} (${DATA_DIR})"
    else
        rm -f "${SOCKET_DIR}/.s.PGSQL.${PORT}.lock"
        # 9>&-: the server must not inherit this script's lock, or `stop` waits for it forever
        as_os_user "$(pg_bin)/pg_ctl" -D "${DATA_DIR}" -l "${LOG_FILE}" -w -t 60 start >/dev/null 9>&- \
            || { log "server did not start; last log lines:"; tail -n 20 "${LOG_FILE}" >&2; exit 1; }
        log "started on ${HOST}:${PORT} (${DATA_DIR})"
    fi
    create_database_and_roles
}

stop() {
    if is_running; then
        as_os_user "$(pg_bin)/pg_ctl" -D "${DATA_DIR}" -m fast -w -t 60 stop >/dev/null
        log "stopped"
    else
        log "not running"
    fi
}

status() {
    if is_running; then
        log "running on ${HOST}:${PORT} (${DATA_DIR})"
    else
        log "not running"
        return 3
    fi
}

# One start/stop at a time (parallel test workers may call start together).
mkdir -p "${PG_DIR}"
exec 9>"${PG_DIR}/script.lock"
flock 9

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 64
        ;;
esac
