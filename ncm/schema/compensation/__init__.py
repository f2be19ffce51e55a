"""GraphQL face of the compensation domain."""
