#!/bin/bash
# The redis stand-in's start-up, from the official image's documentation: flags or a .conf file as
# the first argument go to redis-server; redis-server runs as `redis`, which owns /data; protected
# mode is off unless a flag turns it on.
set -euo pipefail

if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

# The official image is built with protected mode off by default (it would refuse every client on
# the container network); Debian's redis-server has it on. Flags that follow can still set it.
if [ "$1" = redis-server ] && [ "${STANDIN_PROTECTED_DEFAULT:-}" != set ]; then
  export STANDIN_PROTECTED_DEFAULT=set
  shift
  set -- redis-server --protected-mode no "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

umask 0077
exec "$@"
