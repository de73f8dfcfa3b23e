-- When a customer last wrote on a channel in a conversation (the reply window of WhatsApp and
-- Messenger) is read from the inbox by this index, not searched for in the conversation's log.
CREATE INDEX inbox_by_conversation ON inbox (conversation_id, channel, received_at);
