"""The Celery app, its thin tasks, and the one API that enqueues."""
