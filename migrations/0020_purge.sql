-- Admin purge (issue 11 item 5): a message's purge state, so a purge interrupted between
-- its event and the redaction of its bodies is finished by a retry (0 = not purged,
-- 1 = MessagePurged appended, bodies maybe still in the log, 2 = bodies redacted), and
-- keyset indexes for purging a user's or a channel's messages in bounded batches (time
-- travel finds a channel's message streams by the channel index too).
ALTER TABLE messaging_messages ADD COLUMN purge_state smallint NOT NULL DEFAULT 0;
CREATE INDEX messaging_messages_channel ON messaging_messages (channel_id, message_id);
CREATE INDEX messaging_messages_sender ON messaging_messages (sender_id, message_id);
