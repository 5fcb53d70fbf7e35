#!/usr/bin/env bash
# Start (or find running) a private PostgreSQL + PostGIS cluster for the tests; print its URL.
#   export ATLAS_TEST_DATABASE_URL=$(scripts/test_database.sh)
# The cluster lives in ATLAS_TEST_PGDATA (default /tmp/atlas-test-pg) on ATLAS_TEST_PGPORT (default 54329),
# trusts loopback connections of the role `atlas`, and is only for tests: each test database is made and dropped.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL server binaries not found (Debian: apt-get install postgresql postgresql-15-postgis-3)" >&2
    exit 1
fi
data=${ATLAS_TEST_PGDATA:-/tmp/atlas-test-pg}
port=${ATLAS_TEST_PGPORT:-54329}
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$data"; fi
    as_owner "$bin/initdb" -D "$data" -U atlas --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
fi
if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
        -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
fi
echo "postgresql://atlas@127.0.0.1:$port/postgres"
