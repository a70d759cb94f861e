"""Storage: the database schema, the ownership rules that scope queries, and encryption at rest."""
