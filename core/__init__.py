"""Small pieces every app uses (ids, signing, DRF plumbing). Imports no app of ours,
and nothing that starts Celery: importing a model must never start the Celery app."""
