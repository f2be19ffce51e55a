"""Partners, campaigns, placements, serving, tracking and partner reports."""
