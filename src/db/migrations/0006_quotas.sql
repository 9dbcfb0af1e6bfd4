-- Fairness in the delivery claim: the scheduler takes turns across tenants,
-- walking the tenants with due work (a skip scan) and each tenant's entries
-- in due order, both from this index, instead of the oldest entries overall.
CREATE INDEX delivery_queue_tenant_due ON delivery_queue (tenant_id, due_at, seq);
