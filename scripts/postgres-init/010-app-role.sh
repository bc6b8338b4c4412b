#!/bin/sh
# Run once by the postgres image on an empty data directory (docker-compose.yml): the login
# role the API and workers use. Its privileges come from `src/cli/migrate.ts` with
# APP_DATABASE_ROLE=kyc_app (src/db/appRole.ts): read/append on the ledger, never owner.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v pw="$APP_DB_PASSWORD" <<'SQL'
CREATE ROLE kyc_app LOGIN PASSWORD :'pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
SQL
