#!/usr/bin/env bash
# deploy/migrate.sh — apply migrations/[0-9]*.sql in name order to CHIRP_PG_URL
# (default: the run stack). Each file and its row in schema_migrations commit in
# one transaction; files already recorded are skipped, so re-running is safe.
# Everything runs in a single psql session holding a pg_advisory_lock, so two
# runners never race. Migration files must not contain BEGIN/COMMIT (or other
# statements that cannot run inside a transaction block).
#
#   CHIRP_PG_URL=postgresql://... deploy/migrate.sh
#   CHIRP_MIGRATIONS_DIR=/other/dir deploy/migrate.sh   # (default: migrations/)
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
URL=${CHIRP_PG_URL:-postgresql://chirp@127.0.0.1:${CHIRP_STACK_PG_PORT:-54321}/chirp}
DIR=${CHIRP_MIGRATIONS_DIR:-$TOP/migrations}
LOCK_KEY=4242001 # any constant shared by all runners of this project

[[ -d $DIR ]] || { echo "migrate: ERROR: no folder $DIR" >&2; exit 1; }
shopt -s nullglob
LC_COLLATE=C             # glob order = byte order of the names
files=("$DIR"/[0-9]*.sql)

# Quote a string as an SQL / psql literal: 'it''s'.
lit() { printf "'%s'" "${1//\'/\'\'}"; }

# Build one psql script: lock, ensure the table, then for each file
#   skip if recorded, else BEGIN; \i file; INSERT record; COMMIT.
script() {
  local f v
  printf '%s\n' "select pg_advisory_lock($LOCK_KEY);" \
    'set client_min_messages = warning;' \
    'create table if not exists schema_migrations (' \
    '  version text primary key, applied_at timestamptz not null default now());' \
    'reset client_min_messages;'
  for f in "${files[@]}"; do
    v=$(basename "$f")
    printf '%s\n' \
      "select exists (select 1 from schema_migrations where version = $(lit "$v")) as done \\gset" \
      '\if :done' '\else' 'begin;' \
      "\\i $(lit "$f")" \
      "insert into schema_migrations (version) values ($(lit "$v"));" \
      'commit;' \
      "\\echo $(lit "migrate: applied $v")" \
      '\endif'
  done
  printf '%s\n' 'select count(*) as n from schema_migrations \gset' \
    '\echo migrate: up to date, :n migration(s) recorded' \
    "select pg_advisory_unlock($LOCK_KEY);"
}

# Show the target without any password.
echo "migrate: ${#files[@]} file(s) in $DIR -> $(sed -E 's#//([^:/@]*):[^@]*@#//\1:***@#' <<<"$URL")"
# -X: no ~/.psqlrc; -q: no command tags; -t -o: discard plain query results.
if ! script | PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10} \
  psql -X -q -t -v ON_ERROR_STOP=1 -o /dev/null -d "$URL" -f -; then
  echo "migrate: ERROR: failed (the failing migration was rolled back; see above)" >&2
  exit 1
fi
