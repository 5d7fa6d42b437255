"""For the people who run the portal: probes, the staff status page and JSON, log filters,
and the database-down answer for pages."""
