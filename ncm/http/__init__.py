"""Plain HTTP endpoints beside GraphQL (Starlette routes): webhooks and byte serving."""
