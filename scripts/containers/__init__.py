"""Containers: the stand-in images of `scripts/compose-standins` (`standins`), the Docker CLI
and a private daemon for the tests (`docker`)."""
