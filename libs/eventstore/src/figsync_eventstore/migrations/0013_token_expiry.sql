-- API tokens expire, and rotate without downtime (issue 22).
--
-- expires_at: NULL never expires (only when asked for explicitly; tokens made before this
-- migration keep working as they did). Expiry is compared with the database's clock, so every
-- replica agrees on the instant a token stops working.
-- rotated_to: the token that replaced this one; the old one keeps working until its
-- expires_at, which rotation moves to the end of the grace period.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
ALTER TABLE api_tokens ADD COLUMN rotated_to text;
