#!/bin/bash
# Stand-in for docker-stacks' start.sh (much smaller): when the container runs
# as root, drop to NB_UID:NB_GID before running the command, as upstream does
# by default; otherwise run the command as is.  No NB_USER renaming, sudo,
# CHOWN_HOME or start-up hook folders.
set -e
if [ "$#" -eq 0 ]; then
    set -- start-notebook.py
fi
if [ "$(id -u)" = 0 ]; then
    export HOME="/home/${NB_USER:-jovyan}"
    exec setpriv --reuid="${NB_UID:-1000}" --regid="${NB_GID:-100}" --init-groups "$@"
fi
exec "$@"
