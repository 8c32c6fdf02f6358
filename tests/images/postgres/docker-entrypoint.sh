#!/bin/bash
# Same behaviour as the official postgres image's entrypoint, for what the
# template uses: first start initialises PGDATA from POSTGRES_USER,
# POSTGRES_PASSWORD and POSTGRES_DB (scram-sha-256 over TCP), later starts
# just run the server.
set -Eeo pipefail

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    mkdir -p /var/run/postgresql
    chown postgres:postgres /var/run/postgresql
    chmod 3777 /var/run/postgresql
    exec gosu postgres "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = 'postgres' ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "Error: Database is uninitialized and superuser password is not specified." >&2
        echo "       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
        exit 1
    fi
    user="${POSTGRES_USER:-postgres}"
    database="${POSTGRES_DB:-$user}"
    initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
    printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    printf '\nhost all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    # A temporary server on the socket only, as upstream: pg_isready over TCP stays false meanwhile.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
    if [ "$database" != 'postgres' ]; then
        psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres \
            -c "CREATE DATABASE \"$database\"" >/dev/null
    fi
    for script in /docker-entrypoint-initdb.d/*.sql; do
        [ -e "$script" ] && psql -v ON_ERROR_STOP=1 --username "$user" --dbname "$database" -f "$script"
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
