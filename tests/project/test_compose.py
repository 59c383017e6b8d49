"""docker-compose.yml, read as compose reads it (YAML merge keys resolved).

No Docker engine runs here; .ci/run also validates the file with Debian's
docker-compose (`config -q`) when it can install it.
"""

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def load():
    return yaml.safe_load(COMPOSE.read_text())


def test_web_worker_and_beat_share_one_image_and_configuration():
    services = load()["services"]
    app = [services[name] for name in ("web", "worker", "beat", "migrate")]
    assert {s["image"] for s in app} == {"webhooks-platform:latest"}
    assert all(s["environment"]["DATABASE_URL"].startswith("postgres://") for s in app)
    assert all(s["environment"]["REDIS_URL"] == "redis://redis:6379/0" for s in app)
    assert services["worker"]["command"][:4] == ["celery", "-A", "webhooks_project", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "webhooks_project", "beat"]


def test_workers_can_be_scaled():
    worker = load()["services"]["worker"]
    # --scale needs no fixed name and no host port
    assert "container_name" not in worker and "ports" not in worker


def test_redis_keeps_its_queue_and_never_evicts_it():
    command = load()["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_app_services_wait_for_healthy_databases_and_migrations():
    services = load()["services"]
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_web_runs_gunicorn_with_the_projects_settings():
    from webhooks_project import gunicorn_conf

    command = load()["services"]["web"]["command"]
    assert command[command.index("-c") + 1] == "python:webhooks_project.gunicorn_conf"
    # Threads that keep clients' connections open: a sync worker closes each.
    assert gunicorn_conf.worker_class == "gthread" and gunicorn_conf.threads > 1


def test_web_worker_and_beat_have_healthchecks_of_their_own():
    services = load()["services"]
    for name in ("web", "worker", "beat"):
        check = services[name]["healthcheck"]
        assert check["test"] == ["CMD", "python", "manage.py", "healthcheck", name]
        assert check["interval"] and check["retries"] >= 1
    assert "healthcheck" not in services["migrate"]  # a one-shot job


def test_web_and_workers_share_the_metrics_directory():
    # The web's /metrics adds up the files every process writes there.
    services = load()["services"]
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert f"metrics:{env['PROMETHEUS_MULTIPROC_DIR']}" in services[name]["volumes"]
    assert "metrics" in load()["volumes"]


def test_the_healthcheck_command_exists():
    from django.core.management import get_commands

    assert get_commands()["healthcheck"] == "deliveries"
