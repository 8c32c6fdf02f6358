#!/usr/bin/env python3
"""Stand-in for docker-stacks' start-singleuser.py: always jupyterhub-singleuser."""
import os
import shlex
import sys

command = ["jupyterhub-singleuser"]
command += shlex.split(os.environ.get("NOTEBOOK_ARGS", ""))
command += sys.argv[1:]
os.execvp(command[0], command)
