#!/bin/bash
# Initialises PostgreSQL in $PGDATA on first start, then runs it in the
# foreground as the postgres user (exec, so it gets the stop signal itself).
#   POSTGRES_USER           role the app logs in as          (default musicapp)
#   POSTGRES_DB             database owned by that role       (default musicapp)
#   POSTGRES_PASSWORD_FILE  file holding the role's password  (default /run/secrets/db_password)
#   POSTGRES_PASSWORD       used only if that file does not exist
set -euo pipefail

POSTGRES_USER=${POSTGRES_USER:-musicapp}
POSTGRES_DB=${POSTGRES_DB:-musicapp}
POSTGRES_PASSWORD_FILE=${POSTGRES_PASSWORD_FILE:-/run/secrets/db_password}
PGDATA=${PGDATA:-/var/lib/postgresql/data}
PGBIN=/usr/lib/postgresql/15/bin
SOCKET_DIR=/run/postgresql
# Written last during initialisation: without it, a start interrupted half-way
# through is finished on the next start instead of leaving no app role.
INIT_MARKER="$PGDATA/.musicapp-initialised"
# Written once initdb has finished: a cluster without it was cut off mid-way
# (swarm kills a first start that outlasts the health check's start period).
INITDB_MARKER="$PGDATA/.initdb-complete"

log() { echo "database entrypoint: $*" >&2; }

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

read_password() {
    local password=""
    if [[ -f "$POSTGRES_PASSWORD_FILE" ]]; then
        # $(<file) drops the trailing newline that `echo ... | docker secret create` leaves.
        password=$(<"$POSTGRES_PASSWORD_FILE")
    else
        password=${POSTGRES_PASSWORD:-}
    fi
    if [[ -z "$password" ]]; then
        log "no password: mount $POSTGRES_PASSWORD_FILE (a Docker secret) or set POSTGRES_PASSWORD"
        return 1
    fi
    printf '%s' "$password"
}

prepare_directories() {
    install -d -o postgres -g postgres -m 2775 "$SOCKET_DIR"
    mkdir -p "$PGDATA"
    # A bind mount or a fresh volume arrives owned by root; data written by an
    # image whose postgres uid differed needs the whole tree handed over.
    if [[ "$(stat -c %u "$PGDATA")" != "$(id -u postgres)" ]]; then
        log "handing $PGDATA to the postgres user"
        chown -R postgres:postgres "$PGDATA"
    fi
    chmod 0700 "$PGDATA"
}

create_cluster() {
    log "creating a new cluster in $PGDATA"
    as_postgres "$PGBIN/initdb" --pgdata="$PGDATA" --username=postgres \
        --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-instructions
    as_postgres touch "$INITDB_MARKER"
}

discard_unfinished_cluster() {
    # Only ever reached without INIT_MARKER: this cluster never served the app
    # (the server listens for it only after the marker), so it holds no data.
    log "$PGDATA holds a cluster initdb never finished (a first start was stopped): starting it over"
    find "$PGDATA" -mindepth 1 -delete
}

write_access_rules() {
    # Local: only the postgres OS user, as itself. Network: with a password,
    # and only from the networks this container is attached to (`samenet`):
    # the stack's db-network, whose overlay subnet swarm picks at deploy time
    # and may change on a redeploy, plus the node's docker_gwbridge, where
    # containers cannot reach one another. Rewritten at every start, so that
    # data made by an earlier image (which allowed any address) is narrowed too.
    cat >"$PGDATA/pg_hba.conf" <<'HBA'
local   all   all                   peer
host    all   all   samenet         scram-sha-256
HBA
    chown postgres:postgres "$PGDATA/pg_hba.conf"
    chmod 0600 "$PGDATA/pg_hba.conf"
}

create_role_and_database() {
    local password=$1
    log "creating role $POSTGRES_USER and database $POSTGRES_DB"
    # Socket only, so no client can connect before the role has its password.
    as_postgres "$PGBIN/pg_ctl" --pgdata="$PGDATA" --wait --silent \
        --options="-c listen_addresses='' -c unix_socket_directories=$SOCKET_DIR" start
    # The password goes through the environment, not argv, which `ps` shows.
    # Idempotent, so that an interrupted first start can be repeated.
    DB_APP_PASSWORD=$password as_postgres "$PGBIN/psql" --no-psqlrc --quiet \
        --set=ON_ERROR_STOP=1 --host="$SOCKET_DIR" --username=postgres --dbname=postgres \
        --set=app_user="$POSTGRES_USER" --set=app_db="$POSTGRES_DB" <<'SQL'
\getenv app_password DB_APP_PASSWORD
SELECT format('CREATE ROLE %I', :'app_user')
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec
ALTER ROLE :"app_user" WITH LOGIN PASSWORD :'app_password';
SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user')
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'app_db') \gexec
SQL
    as_postgres "$PGBIN/pg_ctl" --pgdata="$PGDATA" --wait --silent --mode=fast stop
}

initialise() {
    local password
    # Read first, so that a missing secret fails before PGDATA is touched.
    password=$(read_password)
    if [[ -e "$PGDATA/PG_VERSION" && ! -e "$INITDB_MARKER" ]]; then
        discard_unfinished_cluster
    fi
    if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
        create_cluster
    fi
    create_role_and_database "$password"
    as_postgres touch "$INIT_MARKER"
}

follow_secret() {
    local password
    password=$(read_password)
    log "existing cluster in $PGDATA: the app role's password follows the secret"
    create_role_and_database "$password"
}

main() {
    prepare_directories
    if [[ -e "$INIT_MARKER" ]]; then
        # Data outlives a swarm (the export is kept); a new swarm, or a trainee
        # who created the secret by hand, may hold another password.
        follow_secret
    else
        initialise
    fi
    # After initialisation, whose temporary server listens on the socket only.
    write_access_rules
    exec setpriv --reuid=postgres --regid=postgres --init-groups \
        "$PGBIN/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories="$SOCKET_DIR"
}

main "$@"
