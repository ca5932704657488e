"""What the tests use but are not tests: exact scores and the scripts run in subprocesses."""
