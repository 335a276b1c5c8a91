-- PostgreSQL for calsync: a login role that owns its database, and nothing more (no
-- superuser, no CREATEDB, no CREATEROLE). Run it once as a superuser (or a role with
-- CREATEROLE and CREATEDB); it is safe to run again and resets the password:
--
--   psql -h db.internal -U postgres -d postgres -v ON_ERROR_STOP=1 \
--        -v role=calsync -v database=calsync -v password="$CALSYNC_DB_PASSWORD" \
--        -f infra/deploy/postgresql/setup.sql
--
-- Then CALSYNC_DATABASE_URL=postgresql+psycopg://calsync:PASSWORD@db.internal:5432/calsync
-- and `calsync db upgrade` creates the tables as that role. The password is passed as a psql
-- variable, so it is never part of this file and is sent only as a quoted literal.

SELECT format('CREATE ROLE %I LOGIN', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role')
\gexec

ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'password';

-- A transaction left open by a stuck process must not hold locks (and a connection) forever.
ALTER ROLE :"role" SET idle_in_transaction_session_timeout = '5min';

SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'database', :'role', 'UTF8')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'database')
\gexec

ALTER DATABASE :"database" OWNER TO :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"role";

-- The tables go into the public schema; since PostgreSQL 15 only the database owner may
-- create there, which the role is. On older servers make it the schema's owner as well.
\connect :"database"
ALTER SCHEMA public OWNER TO :"role";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
