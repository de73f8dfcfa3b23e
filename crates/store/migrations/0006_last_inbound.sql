-- When a customer last wrote on a channel with a reply window (WhatsApp, Messenger) is read from
-- the inbox by this index, not searched for in the conversation's log. Partial: the turns of
-- other channels do not maintain it.
CREATE INDEX inbox_last_inbound ON inbox (conversation_id, channel, received_at)
    WHERE channel IN ('whatsapp', 'messenger');
