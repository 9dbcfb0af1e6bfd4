-- The tenant fence's proof. The runtime role can change the tenant setting itself, so
-- the policies stop trusting it: they compare against zm_fence_tenant(),
-- which accepts `<id>.<key version>.<hex HMAC-SHA256(key, 'tenant:' || id)>` and
-- returns the id, or NULL (no rows) for anything else. The keys sit in
-- zm_fence_keys, readable by the schema owner only (the runtime role has no
-- privilege on it): SQL run as the runtime role cannot compute a context the
-- policies accept. `zenmesh migrate` stores one key per master key version.
--
-- HMAC without pgcrypto: sha256(opad || sha256(ipad || msg)), the key already
-- XORed into its 64-byte pads (RFC 2104). Each policy calls the function as
-- `(SELECT zm_fence_tenant())`, an initplan: once per statement, not per row.

CREATE TABLE zm_fence_keys (
  version  integer PRIMARY KEY CHECK (version BETWEEN 1 AND 1000000),
  ipad     bytea NOT NULL CHECK (length(ipad) = 64),
  opad     bytea NOT NULL CHECK (length(opad) = 64),
  added_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON zm_fence_keys FROM PUBLIC;

-- The id a context proves for a purpose ('tenant' or 'user'), or NULL. Runs as the owner
-- (it reads the keys). Every name is schema-qualified, so nothing on the caller's search
-- path is used; a SET search_path clause would do the same but costs more than the check
-- itself on every call.
CREATE FUNCTION zm_fence_verify(purpose text, ctx text) RETURNS text
  LANGUAGE plpgsql STABLE SECURITY DEFINER
AS $$
DECLARE
  n integer := pg_catalog.length(ctx);
  head text;
  ver text;
  id text;
  k record;
BEGIN
  -- `<id>.<version>.<64 lowercase hex>`, taken apart from the right with string functions
  -- (a regular expression cost more here than all the rest together). OPERATOR(...) forms
  -- all bind alike, left to right: hence the parentheses.
  IF n IS NULL OR n OPERATOR(pg_catalog.<) 68 OR n OPERATOR(pg_catalog.>) 512
     OR pg_catalog.substr(ctx, n OPERATOR(pg_catalog.-) 64, 1) OPERATOR(pg_catalog.<>) '.' THEN
    RETURN NULL;
  END IF;
  head := pg_catalog.left(ctx, n OPERATOR(pg_catalog.-) 65);
  ver := pg_catalog.split_part(head, '.', -1);
  IF pg_catalog.length(ver) OPERATOR(pg_catalog.>) 7
     OR pg_catalog.length(ver) OPERATOR(pg_catalog.>=) (pg_catalog.length(head) OPERATOR(pg_catalog.-) 1)
     OR pg_catalog.left(ver, 1) OPERATOR(pg_catalog.=) '0'
     OR pg_catalog.translate(ver, '0123456789', '') OPERATOR(pg_catalog.<>) '' THEN
    RETURN NULL;
  END IF;
  id := pg_catalog.left(head, pg_catalog.length(head) OPERATOR(pg_catalog.-) pg_catalog.length(ver) OPERATOR(pg_catalog.-) 1);
  SELECT f.ipad, f.opad INTO k FROM public.zm_fence_keys f
   WHERE f.version OPERATOR(pg_catalog.=) ver::integer;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  -- Compared as lowercase hex: anything else in the MAC's place simply differs. The 64-byte
  -- comparison is memcmp's, far below what a statement's timing can resolve.
  IF pg_catalog.encode(pg_catalog.sha256(k.opad OPERATOR(pg_catalog.||) pg_catalog.sha256(
       k.ipad OPERATOR(pg_catalog.||) pg_catalog.convert_to(purpose OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) id, 'UTF8'))), 'hex')
     OPERATOR(pg_catalog.=) pg_catalog.substr(ctx, n OPERATOR(pg_catalog.-) 63) THEN
    RETURN id;
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION zm_fence_tenant() RETURNS text LANGUAGE sql STABLE
AS $$ SELECT public.zm_fence_verify('tenant', pg_catalog.current_setting('app.tenant_id', true)) $$;

CREATE FUNCTION zm_fence_user() RETURNS text LANGUAGE sql STABLE
AS $$ SELECT public.zm_fence_verify('user', pg_catalog.current_setting('app.user_id', true)) $$;

-- Which versions are stored, without their keys: lets a runtime that may not migrate say
-- "run zenmesh migrate" rather than only "refused".
CREATE FUNCTION zm_fence_versions() RETURNS integer[]
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(array_agg(version ORDER BY version), '{}') FROM public.zm_fence_keys $$;

ALTER POLICY tenants_fence ON tenants
  USING (id = (SELECT zm_fence_tenant()))
  WITH CHECK (id = (SELECT zm_fence_tenant()));
ALTER POLICY projects_fence ON projects
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY memberships_fence ON memberships
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY api_keys_fence ON api_keys
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY tenant_keys_fence ON tenant_keys
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY audit_log_fence ON audit_log
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY audit_heads_fence ON audit_heads
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY sources_fence ON sources
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY source_secrets_fence ON source_secrets
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY events_fence ON events
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY ingest_replays_fence ON ingest_replays
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY destinations_fence ON destinations
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY destination_secrets_fence ON destination_secrets
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY subscriptions_fence ON subscriptions
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY deliveries_fence ON deliveries
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY delivery_attempts_fence ON delivery_attempts
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY replay_jobs_fence ON replay_jobs
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
ALTER POLICY memberships_self ON memberships
  USING (user_id = (SELECT zm_fence_user()));
