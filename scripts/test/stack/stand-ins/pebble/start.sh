#!/bin/bash
# pebble in the foreground, resolving the names it validates through PEBBLE_DNS_SERVER when set
# (the stack test's DNS server: what a CA's resolvers see), else through its companion
# pebble-challtestsrv, which answers every name with the swag container's address (SWAG_ADDRESS).
set -euo pipefail
if [ -n "${PEBBLE_DNS_SERVER:-}" ]; then
  exec pebble -config /etc/pebble/config.json -dnsserver "$PEBBLE_DNS_SERVER"
fi
pebble-challtestsrv -defaultIPv4 "$SWAG_ADDRESS" -defaultIPv6 '' -dns01 :8053 \
  -http01 '' -https01 '' -tlsalpn01 '' &
exec pebble -config /etc/pebble/config.json -dnsserver 127.0.0.1:8053
