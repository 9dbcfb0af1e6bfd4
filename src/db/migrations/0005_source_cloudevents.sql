-- Ingest semantics: a source takes CloudEvents input modes only when it opts in, and only
-- the modes its scheme authenticates (structured reads the signed body; binary reads ce-*
-- headers, which no scheme signs today). Sources that already listed a CloudEvents media
-- type keep taking structured events.
ALTER TABLE sources ADD COLUMN cloudevents text NOT NULL DEFAULT 'off'
  CHECK (cloudevents IN ('off', 'structured', 'binary', 'any'));
UPDATE sources SET cloudevents = 'structured'
 WHERE content_types && ARRAY['application/cloudevents+json', 'application/cloudevents-batch+json']::text[];
