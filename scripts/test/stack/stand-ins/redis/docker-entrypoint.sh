#!/bin/bash
# The redis stand-in's start-up, from the official image's documentation: flags or a .conf file as
# the first argument go to redis-server; redis-server runs as `redis`, which owns /data; protected
# mode is off unless a flag or the config file turns it on.
set -euo pipefail

if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

umask 0077
# The official image is built with protected mode off by default (it would refuse every client on
# the container network); Debian's redis-server has it on. The default goes first, so flags that
# follow can still set it; a config file (which must come first) decides for itself.
second=${2:-}
if [ "$1" = redis-server ] && [ "${second%.conf}" = "$second" ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
