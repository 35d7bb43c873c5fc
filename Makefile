# Shortcuts; the README's two commands are scripts/run.sh and scripts/test.sh.
.PHONY: run test lint bench
run:
	./scripts/run.sh
test:
	./scripts/test.sh
lint:
	.venv/bin/ruff check src tests bench harness
bench:
	./scripts/bench.sh
