#!/usr/bin/env bash
# Starts Debian's docker-registry (distribution 2.8) on 127.0.0.1 for OCI tests and writes DIR/env.
#   hack/testenv/registry-up.sh [--dir DIR] [--plain | --tls] [--htpasswd USER:PASS | --token USER:PASS]
#       [--anonymous-pull] [--realm-host HOST] [--ca-from PKIDIR]
#   --plain       HTTP (the default without auth)        --tls   HTTPS, serving cert for 127.0.0.1,
#                                                                10.0.2.2 and localhost, signed by DIR's test CA
#   --htpasswd    basic auth (bcrypt htpasswd file); implies --tls unless --plain is given
#   --token       token auth: hack/testenv/tokenserver issues ES256 JWTs for USER:PASS (Docker token
#                 spec); the registry trusts the signing cert (auth.token.rootcertbundle); implies --tls
#   --anonymous-pull   with --token: clients without credentials may pull
#   --realm-host  host in the token realm URL (default 127.0.0.1; 10.0.2.2 for clients in a qemu guest)
#   --ca-from     sign with PKIDIR/ca.{crt,key} (e.g. build/testenv/pki) so one CA serves both
# DIR defaults to build/testenv-registry. Idempotent: the same mode again is a no-op; another mode
# restarts the registry (its storage is kept). Stop with hack/testenv/registry-down.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

usage() { sed -n '2,16s/^# \{0,1\}//p' "$0"; }
dir=$TESTENV_REGISTRY_DIR_DEFAULT transport= auth=none creds= anon_pull= realm_host=127.0.0.1 ca_from=
need() { [ "$2" -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case $1 in
    --dir) need "$1" $#; dir=$2; shift 2 ;;
    --plain) transport=plain; shift ;;
    --tls) transport=tls; shift ;;
    --htpasswd) need "$1" $#; auth=htpasswd creds=$2; shift 2 ;;
    --token) need "$1" $#; auth=token creds=$2; shift 2 ;;
    --anonymous-pull) anon_pull=1; shift ;;
    --realm-host) need "$1" $#; realm_host=$2; shift 2 ;;
    --ca-from) need "$1" $#; ca_from=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
if [ -z "$transport" ]; then
  if [ "$auth" = none ]; then transport=plain; else transport=tls; fi
fi
if [ "$auth" != none ]; then
  [[ $creds == ?*:?* ]] || die "--$auth wants USER:PASS"
  [[ ${creds%%:*} != *[[:space:]]* ]] || die "the user name may not contain spaces"
fi
[ -z "$anon_pull" ] || [ "$auth" = token ] || die "--anonymous-pull needs --token"
registry_bin=${DOCKER_REGISTRY_BIN:-/usr/bin/docker-registry}
[ -x "$registry_bin" ] || die "no $registry_bin; install Debian's docker-registry (hack/deps.sh)"
[ "$auth" != htpasswd ] || command -v htpasswd >/dev/null || die "htpasswd is missing (apache2-utils; hack/deps.sh)"
dir=$(abs_dir "$dir")
mkdir -p "$dir/pki" "$dir/run" "$dir/logs" "$dir/data" "$dir/certs"

user=${creds%%:*} pass=${creds#*:}
[ "$auth" != none ] || user= pass=
mode="transport=$transport auth=$auth user=$user pass_sha=$(printf %s "$pass" | sha256sum | cut -c1-16)"
mode+=" anon_pull=$anon_pull realm_host=$realm_host ca_from=$ca_from"

# Token server binary: built once per source version, cached.
tokenserver_bin=
if [ "$auth" = token ]; then
  src=$here/tokenserver
  sum=$(cat "$src/go.mod" "$src/main.go" | sha256sum | cut -c1-16)
  tokenserver_bin=$SCHEDKIT_CACHE/testenv-tokenserver-$sum/tokenserver
  if [ ! -x "$tokenserver_bin" ]; then
    command -v go >/dev/null || die "go is needed to build $src"
    testenv_go_env
    mkdir -p "$(dirname "$tokenserver_bin")"
    (cd "$src" && GOWORK=off CGO_ENABLED=0 go build -trimpath -o "$tokenserver_bin.tmp" .) ||
      die "building the token server failed"
    mv "$tokenserver_bin.tmp" "$tokenserver_bin"
  fi
fi

old_port= old_token_port= old_token_bin=
if [ -s "$dir/env" ]; then
  old_port=$(set +u; . "$dir/env"; echo "${REGISTRY_PORT:-}")
  old_token_port=$(set +u; . "$dir/env"; echo "${TOKEN_PORT:-}")
  old_token_bin=$(set +u; . "$dir/env"; echo "${TOKEN_SERVER_BIN:-}")
fi

running=
if proc_alive "$dir/run/registry.pid" "$registry_bin" "$dir"; then running=1; fi
if [ -n "$running" ] && [ "$(cat "$dir/run/mode" 2>/dev/null)" = "$mode" ] &&
  { [ "$auth" != token ] || proc_alive "$dir/run/tokenserver.pid" "$tokenserver_bin" "$dir"; }; then
  exit 0 # already up in this mode
fi
# Stop whatever runs in another mode (or half-started), then start afresh; ports are kept.
proc_stop "$dir/run/registry.pid" "$registry_bin" "$dir" docker-registry 20
[ -z "$old_token_bin" ] || proc_stop "$dir/run/tokenserver.pid" "$old_token_bin" "$dir" tokenserver 10
rm -f "$dir/run/mode"

# --- PKI -------------------------------------------------------------------------------------------
pki=$dir/pki
if [ -n "$ca_from" ]; then
  [ -s "$ca_from/ca.crt" ] && [ -s "$ca_from/ca.key" ] || die "no ca.crt and ca.key in $ca_from"
  if ! cmp -s "$ca_from/ca.crt" "$pki/ca.crt"; then
    (umask 077 && cp "$ca_from/ca.key" "$pki/ca.key")
    cp "$ca_from/ca.crt" "$pki/ca.crt"
  fi
fi
pki_ca "$pki"
cp "$pki/ca.crt" "$dir/certs/ca.crt" # a containers-style cert dir (skopeo --cert-dir)
pki_cert "$pki" registry server "/O=schedkit/CN=schedkit-testenv-registry" "${TESTENV_SANS[@]}"
if [ "$auth" = token ]; then
  pki_cert "$pki" token-signing self "/O=schedkit/CN=schedkit-testenv-token-signer"
fi

# --- ports, auth files, config ---------------------------------------------------------------------
reuse_port REGISTRY_PORT "$old_port"
scheme=http
[ "$transport" = plain ] || scheme=https
token_service=schedkit-testenv-registry token_issuer=schedkit-testenv-token-issuer
TOKEN_PORT= token_url=
if [ "$auth" = token ]; then
  reuse_port TOKEN_PORT "$old_token_port"
  token_url=https://$realm_host:$TOKEN_PORT/token
fi
[ -s "$dir/run/http-secret" ] || (umask 077 && openssl rand -hex 32 >"$dir/run/http-secret")

rm -f "$dir/htpasswd" "$dir/auth.json"
if [ "$auth" = htpasswd ]; then
  (umask 077 && htpasswd -Bbc "$dir/htpasswd" "$user" "$pass" 2>/dev/null) || die "htpasswd failed"
fi
if [ "$auth" != none ]; then
  (umask 077 && printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"},"10.0.2.2:%s":{"auth":"%s"}}}\n' \
    "$REGISTRY_PORT" "$(printf %s "$creds" | base64 -w0)" "$REGISTRY_PORT" "$(printf %s "$creds" | base64 -w0)" \
    >"$dir/auth.json")
fi

{
  echo "# Written by hack/testenv/registry-up.sh ($mode)"
  echo "version: 0.1"
  echo "log:"
  echo "  level: info"
  echo "  formatter: text"
  echo "storage:"
  echo "  filesystem:"
  echo "    rootdirectory: $dir/data"
  echo "  delete:"
  echo "    enabled: true"
  echo "  maintenance:"
  echo "    uploadpurging:"
  echo "      enabled: false"
  echo "http:"
  echo "  addr: 127.0.0.1:$REGISTRY_PORT"
  echo "  secret: $(cat "$dir/run/http-secret")"
  if [ "$transport" = tls ]; then
    echo "  tls:"
    echo "    certificate: $pki/registry.crt"
    echo "    key: $pki/registry.key"
  fi
  echo "  headers:"
  echo "    X-Content-Type-Options: [nosniff]"
  case $auth in
    htpasswd)
      echo "auth:"
      echo "  htpasswd:"
      echo "    realm: schedkit-testenv"
      echo "    path: $dir/htpasswd"
      ;;
    token)
      echo "auth:"
      echo "  token:"
      echo "    realm: $token_url"
      echo "    service: $token_service"
      echo "    issuer: $token_issuer"
      echo "    rootcertbundle: $pki/token-signing.crt"
      ;;
  esac
} >"$dir/config.yml"

# --- start -----------------------------------------------------------------------------------------
# Both command lines name files in DIR, which marks the processes as this DIR's (see proc_alive).
if [ "$auth" = token ]; then
  ts_args=(-listen "127.0.0.1:$TOKEN_PORT" -tls-cert "$pki/registry.crt" -tls-key "$pki/registry.key"
    -signing-key "$pki/token-signing.key" -signing-cert "$pki/token-signing.crt"
    -issuer "$token_issuer" -service "$token_service" -user "$creds" -v)
  [ -z "$anon_pull" ] || ts_args+=(-anonymous pull)
  proc_start "$dir/run/tokenserver.pid" "$dir/logs/tokenserver.log" "$tokenserver_bin" "${ts_args[@]}"
  wait_for 30 tokenserver "$dir/run/tokenserver.pid" "$tokenserver_bin" "$dir" "$dir/logs/tokenserver.log" \
    curl -fsS -m 3 --cacert "$pki/ca.crt" "https://127.0.0.1:$TOKEN_PORT/healthz"
fi
proc_start "$dir/run/registry.pid" "$dir/logs/registry.log" "$registry_bin" serve "$dir/config.yml"
registry_answers() { # 200 without auth, 401 with
  local code
  code=$(curl -sS -m 3 -o /dev/null -w '%{http_code}' --cacert "$pki/ca.crt" "$scheme://127.0.0.1:$REGISTRY_PORT/v2/")
  [ "$code" = 200 ] || [ "$code" = 401 ]
}
wait_for 30 docker-registry "$dir/run/registry.pid" "$registry_bin" "$dir" "$dir/logs/registry.log" registry_answers
echo "$mode" >"$dir/run/mode"

host=127.0.0.1:$REGISTRY_PORT
write_env "$dir/env" \
  REGISTRY_DIR="$dir" \
  REGISTRY_URL="$scheme://$host" \
  REGISTRY_HOST="$host" \
  REGISTRY_GUEST_HOST="10.0.2.2:$REGISTRY_PORT" \
  REGISTRY_PORT="$REGISTRY_PORT" \
  REGISTRY_TLS="$([ "$transport" = tls ] && echo 1 || echo 0)" \
  REGISTRY_AUTH_MODE="$auth" \
  REGISTRY_USER="$user" \
  REGISTRY_PASS="$pass" \
  REGISTRY_AUTHFILE="$([ "$auth" = none ] || echo "$dir/auth.json")" \
  REGISTRY_CA="$pki/ca.crt" \
  REGISTRY_CERT_DIR="$dir/certs" \
  REGISTRY_CONFIG="$dir/config.yml" \
  REGISTRY_BIN="$registry_bin" \
  REGISTRY_PID="$(cat "$dir/run/registry.pid")" \
  REGISTRY_LOG="$dir/logs/registry.log" \
  TOKEN_SERVER_BIN="$tokenserver_bin" \
  TOKEN_URL="$token_url" \
  TOKEN_PORT="$TOKEN_PORT" \
  TOKEN_SERVICE="$([ "$auth" = token ] && echo "$token_service")" \
  TOKEN_ISSUER="$([ "$auth" = token ] && echo "$token_issuer")" \
  TOKEN_SERVER_PID="$(cat "$dir/run/tokenserver.pid" 2>/dev/null || true)" \
  TOKEN_SERVER_LOG="$([ "$auth" = token ] && echo "$dir/logs/tokenserver.log")"
