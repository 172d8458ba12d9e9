#!/bin/bash
# Two dnsmasq servers, one per view (swag: port 53; ca: port 5353), each answering the names in
# DNS_NAMES from a hosts file that dns-answer rewrites (DNS_SWAG_ANSWER and DNS_CA_ANSWER are the
# first answers: an address, or none). A name under DNS_DOMAIN without an entry gets NXDOMAIN, as
# from a zone nobody has delegated yet; nothing else resolves here (no upstream servers).
set -euo pipefail
rm -rf /run/dns && mkdir -p /run/dns
dns-answer swag "${DNS_SWAG_ANSWER:-none}" > /dev/null
dns-answer ca "${DNS_CA_ANSWER:-none}" > /dev/null
pids=()
for view in swag:53 ca:5353; do
  dnsmasq --keep-in-foreground --no-resolv --no-hosts --port="${view#*:}" \
    --addn-hosts="/run/dns/${view%:*}.hosts" --local="/$DNS_DOMAIN/" --local-ttl=0 \
    --pid-file="/run/dns/${view%:*}.pid" --log-queries --log-facility=- &
  pids+=("$!")
done
trap 'kill "${pids[@]}" 2>/dev/null; exit 0' TERM INT
wait -n
echo 'start-dnsmasq: a dnsmasq exited; stopping' >&2
kill "${pids[@]}" 2>/dev/null
exit 1
