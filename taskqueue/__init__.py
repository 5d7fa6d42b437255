"""The portal's one seam to django-q2: the only code outside migrations that imports django_q.

Public interface (everything else in this package is its implementation):
- taskqueue.enqueue: TaskCall, enqueue(), enqueue_together(), schedule_once(), task_path()
- taskqueue.status: queue_status(), oldest_queued_age(), clusters_reporting(),
  count_successes_by_effect()
- taskqueue.requeue: requeue_failed()
- taskqueue.context: the running task's name, for log lines (set by receivers)
- taskqueue.workers: prepare_workers(), what each worker process does before its first task
- the admin's "Failed tasks" with a re-queue action, `manage.py requeue_failed_tasks`, and
  the hourly `prune-task-results` schedule.
"""
