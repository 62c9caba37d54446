-- Grain: one row per valid play (minors dropped by the policy's rule excluded), typed, joined with the person's subscriber attributes.
-- event_id (de-duplication is done) and profile_name (free text) are not needed downstream.
SELECT account_id, profile_id, email, ip_address, device_id,
       device_model, title_id, title_name, content_type, started_ts AS started_at,
       watch_s AS watch_seconds, country, city, postal_code, birth_date, gender, plan
FROM events_ranked WHERE reject_reason IS NULL AND NOT minor;
