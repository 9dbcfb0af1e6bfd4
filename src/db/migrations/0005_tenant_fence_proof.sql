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
-- (it reads the keys); the search path is pinned so nothing the caller creates is used.
CREATE FUNCTION zm_fence_verify(purpose text, ctx text) RETURNS text
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  m text[];
  k record;
BEGIN
  IF ctx IS NULL OR length(ctx) > 512 THEN
    RETURN NULL;
  END IF;
  m := regexp_match(ctx, '^(.+)\.([1-9][0-9]{0,6})\.([0-9a-f]{64})$');
  IF m IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT f.ipad, f.opad INTO k FROM public.zm_fence_keys f WHERE f.version = m[2]::integer;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  -- Compared as digests of the MACs, so the time the comparison takes says nothing about the key.
  IF sha256(sha256(k.opad || sha256(k.ipad || convert_to(purpose || ':' || m[1], 'UTF8'))))
     = sha256(decode(m[3], 'hex')) THEN
    RETURN m[1];
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
