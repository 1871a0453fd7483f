-- The original feature's one change to the bot's own tables: the agent node a user
-- belongs to, read by the payout side.
ALTER TABLE users ADD COLUMN IF NOT EXISTS agent_node VARCHAR(255);
