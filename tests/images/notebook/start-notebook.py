#!/usr/bin/env python3
"""Stand-in for docker-stacks' start-notebook.py.

With JUPYTERHUB_API_TOKEN in the environment (a spawner started us) run
jupyterhub-singleuser, otherwise `jupyter lab` (or DOCKER_STACKS_JUPYTER_CMD).
NOTEBOOK_ARGS (shell-split) and this script's arguments are passed on.
"""
import os
import shlex
import sys

if os.environ.get("JUPYTERHUB_API_TOKEN"):
    command = ["jupyterhub-singleuser"]
else:
    command = ["jupyter", os.environ.get("DOCKER_STACKS_JUPYTER_CMD", "lab")]
command += shlex.split(os.environ.get("NOTEBOOK_ARGS", ""))
command += sys.argv[1:]
sys.stdout.flush()
os.execvp(command[0], command)
