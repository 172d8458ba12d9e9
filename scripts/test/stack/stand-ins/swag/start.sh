#!/bin/bash
# The swag stand-in's start-up (see the Dockerfile): SWAG's documented steps, in its order.
set -uo pipefail

lower() { printf '%s' "${1//\"/}" | tr '[:upper:]' '[:lower:]'; }
URL=$(lower "${URL:-}")
SUBDOMAINS=$(lower "${SUBDOMAINS:-}")
EXTRA_DOMAINS=$(lower "${EXTRA_DOMAINS:-}")
ONLY_SUBDOMAINS=$(lower "${ONLY_SUBDOMAINS:-false}")
VALIDATION=$(lower "${VALIDATION:-http}")
STAGING=$(lower "${STAGING:-false}")
EMAIL=${EMAIL:-}
printf 'Variables set:\nPUID=%s\nPGID=%s\nURL=%s\nSUBDOMAINS=%s\nEXTRA_DOMAINS=%s\nONLY_SUBDOMAINS=%s\nVALIDATION=%s\nEMAIL=%s\nSTAGING=%s\n' \
  "$PUID" "$PGID" "$URL" "$SUBDOMAINS" "$EXTRA_DOMAINS" "$ONLY_SUBDOMAINS" "$VALIDATION" "$EMAIL" "$STAGING"

if [ -z "$URL" ]; then
  echo 'Please pass your URL (domain) as an environment variable in your docker run command. See docker info for more details.'
  sleep infinity
fi
if [ "$VALIDATION" != http ]; then
  echo "this stand-in implements http validation only (VALIDATION=$VALIDATION)"
  sleep infinity
fi
if [ -z "${STANDIN_ACME_SERVER:-}" ]; then
  echo 'STANDIN_ACME_SERVER is not set: this stand-in only ever talks to a test ACME server'
  sleep infinity
fi

# The user nginx's workers run as (abc in SWAG), with the ids the deployment gives.
groupadd --non-unique --gid "$PGID" abc 2>/dev/null || true
useradd --non-unique --uid "$PUID" --gid "$PGID" --no-create-home abc 2>/dev/null || true

mkdir -p /config/nginx/proxy-confs /config/etc/letsencrypt /config/keys /config/log/letsencrypt \
  /config/tmp /tmp/letsencrypt
for file in nginx.conf ssl.conf proxy.conf; do
  [ -f "/config/nginx/$file" ] || cp "/defaults/$file" "/config/nginx/$file"
done
# SWAG writes Docker's own DNS server into resolver.conf.
resolver=$(awk '/^nameserver/ { print $2; exit }' /etc/resolv.conf)
echo "resolver ${resolver:-127.0.0.11} valid=30s;" > /config/nginx/resolver.conf

# The certificate's names, and the folder certbot keeps it in (SWAG's rule).
domains=()
IFS=',' read -r -a subs <<< "$SUBDOMAINS"
if [ "$ONLY_SUBDOMAINS" = true ]; then
  for sub in "${subs[@]}"; do domains+=("$sub.$URL"); done
  live="${subs[0]}.$URL"
else
  domains+=("$URL")
  for sub in "${subs[@]}"; do [ -n "$sub" ] && domains+=("$sub.$URL"); done
  live="$URL"
fi
IFS=',' read -r -a extra <<< "$EXTRA_DOMAINS"
for name in "${extra[@]}"; do [ -n "$name" ] && domains+=("$name"); done
rm -rf /config/keys/letsencrypt
ln -s "../etc/letsencrypt/live/$live" /config/keys/letsencrypt

if [ "$STAGING" = true ]; then real=https://acme-staging-v02.api.letsencrypt.org/directory; else real=https://acme-v02.api.letsencrypt.org/directory; fi
if [ ! -f /config/keys/letsencrypt/fullchain.pem ]; then
  echo "Generating new certificate for ${domains[*]} from $STANDIN_ACME_SERVER (SWAG would use $real)"
  args=(--register-unsafely-without-email)
  [ -n "$EMAIL" ] && args=(--email "$EMAIL")
  for name in "${domains[@]}"; do args+=(-d "$name"); done
  # http validation: certbot's own server on port 80, before nginx starts (as SWAG does).
  certbot certonly --non-interactive --agree-tos --standalone --preferred-challenges http \
    --config-dir /config/etc/letsencrypt --logs-dir /config/log/letsencrypt \
    --work-dir /tmp/letsencrypt --server "$STANDIN_ACME_SERVER" \
    --cert-name "$live" "${args[@]}"
  if [ ! -f /config/keys/letsencrypt/fullchain.pem ]; then
    echo 'ERROR: Cert does not exist! Please see the validation error above. The issue may be due to incorrect dns or port forwarding settings. Please fix your settings and recreate the container'
    sleep infinity
  fi
  echo 'New certificate generated; starting nginx'
else
  echo 'Certificate exists; parameters unchanged; starting nginx'
fi
ln -sf ./letsencrypt/fullchain.pem /config/keys/cert.crt
ln -sf ./letsencrypt/privkey.pem /config/keys/cert.key
chown -R abc:abc /config/tmp

exec nginx -c /config/nginx/nginx.conf
