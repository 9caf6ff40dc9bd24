-- Repositories and other engine definitions created through the API/CLI (`repo add`);
-- definitions from files and Git are re-read at start and are not stored here.
CREATE TABLE definitions (
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);
