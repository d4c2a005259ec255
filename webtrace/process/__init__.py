"""Running tools: the runner, the spawn helper and its server side, process groups.

Nothing here knows HTTP: argv in, lines and an outcome out.
"""
