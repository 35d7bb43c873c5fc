"""mayfly's benchmark: nginx -> uWSGI -> app on loopback, loaded by wrk; ``python -m bench``."""
