#!/bin/bash
# DNS for the validation (every name is the swag container), then pebble in the foreground.
set -euo pipefail
pebble-challtestsrv -defaultIPv4 "$SWAG_ADDRESS" -defaultIPv6 '' -dns01 :8053 \
  -http01 '' -https01 '' -tlsalpn01 '' &
exec pebble -config /etc/pebble/config.json -dnsserver 127.0.0.1:8053
