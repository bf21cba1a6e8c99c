"""The scripts here run under mpiexec from tests/test_distributed.py, not as pytest modules."""
collect_ignore_glob = ["*.py"]
