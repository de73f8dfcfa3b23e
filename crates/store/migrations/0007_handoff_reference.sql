-- A helpdesk's webhooks name the ticket a handoff opened: find its conversation by it.
CREATE INDEX handoffs_reference ON handoffs (target, reference);
