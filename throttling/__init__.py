"""Rate limits with atomic counters in the database: no extra service, correct under any number
of web processes. `throttling.limits.hit()` counts and refuses; old windows are pruned hourly."""
