-- Ingest semantics: a source takes CloudEvents input modes only when it opts in, and only
-- the modes its scheme authenticates (structured reads the signed body; binary reads ce-*
-- headers, which no scheme signs today; GitLab's secret tokens sign nothing). Sources that
-- already listed a CloudEvents media type keep taking structured events, except GitLab's.
ALTER TABLE sources ADD COLUMN cloudevents text NOT NULL DEFAULT 'off'
  CHECK (cloudevents IN ('off', 'structured', 'binary', 'any'));
UPDATE sources SET cloudevents = 'structured'
 WHERE scheme <> 'gitlab'
   AND content_types && ARRAY['application/cloudevents+json', 'application/cloudevents-batch+json']::text[];
