"""GraphQL face of the finance domain."""
