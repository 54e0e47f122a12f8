-- The RGPD retention queue is read as a range of its ids (instant first):
-- its entries need no parent, and so no entry in the parent index.
UPDATE read_models SET parent = NULL WHERE projection = 'rgpd' AND collection = 'retention_queue';
