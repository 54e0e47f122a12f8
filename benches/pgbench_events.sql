-- One single-row insert into an events-shaped table (pgbench custom script).
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, event_id, occurred_at)
VALUES ('Agent', gen_random_uuid()::text, 1, 'AgentInvited', '1.0',
        '{"AgentInvited": {"agent": {"email": "a@b.fr", "first_name": "A", "last_name": "B", "services": ["service_social"], "role": "basic"}}}',
        '{"actor": "platform-admin"}', gen_random_uuid(), now());
