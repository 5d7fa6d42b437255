"""A minimal Django + Celery + Redis signup service in Celery's reliable configuration: the
peer bench/run.py measures the portal against. The same work per signup: an account insert,
then a welcome email to the benchmark's SMTP server and an audit record, done by workers."""
