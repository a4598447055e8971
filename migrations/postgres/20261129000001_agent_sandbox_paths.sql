-- Extra paths an agent's sandbox may read and write (CLIs that keep their
-- sign-in under $HOME, e.g. ~/.claude), as a JSON array of strings.
ALTER TABLE agents ADD COLUMN sandbox_paths TEXT NOT NULL DEFAULT '[]';
