# Task runner: the README's two commands plus the everyday ones.
.PHONY: run test lint fix services services-down migrations bench

run:            ## the app on embedded defaults, with a demo project, on 127.0.0.1:8000
	scripts/run

test:           ## the whole suite, starting MariaDB, Redis and Kafka
	scripts/test

lint:
	scripts/bootstrap && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

fix:
	scripts/bootstrap && .venv/bin/ruff check --fix . && .venv/bin/ruff format .

services:
	scripts/services up

services-down:
	scripts/services down

migrations:     ## write a migration after changing trackmaster/models
	scripts/bootstrap && .venv/bin/trackmaster makemigrations

bench:
	scripts/bootstrap && scripts/services up && .venv/bin/python -m bench
