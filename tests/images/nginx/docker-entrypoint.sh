#!/bin/sh
# Stand-in for the official nginx image's entrypoint: when the command is
# nginx, run the executable /docker-entrypoint.d/*.sh hooks first (none are
# shipped here: no template envsubst, no IPv6 rewrite), then exec the command.
set -e
case "$1" in
    nginx|nginx-debug)
        for hook in /docker-entrypoint.d/*.sh; do
            [ -x "$hook" ] || continue
            echo "$0: running $hook"
            "$hook"
        done
        ;;
esac
exec "$@"
