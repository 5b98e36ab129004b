#!/usr/bin/env bash
# Mints a kubeconfig with restricted credentials for the test environment and prints its path.
#   hack/testenv/kubeconfig.sh [--dir DIR] --node NAME                 client cert CN=system:node:NAME, O=system:nodes
#   hack/testenv/kubeconfig.sh [--dir DIR] --user NAME [--group G]...  client cert CN=NAME, O=G...
#   hack/testenv/kubeconfig.sh [--dir DIR] --serviceaccount NS/NAME [--create] [--duration 1h]
#                                                                      a bound token from the TokenRequest API
#   hack/testenv/kubeconfig.sh [--dir DIR] --token TOKEN [--name NAME] any bearer token
# Options: --out FILE (default DIR/kubeconfigs/<kind>-<name>.kubeconfig); --guest: the server is
# https://10.0.2.2:PORT, the address a qemu guest (user networking) reaches the host's 127.0.0.1 by.
# --create makes the ServiceAccount (and its namespace) when missing. Certificates and keys are
# embedded, so the file can be copied into a VM.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; }
dir=$TESTENV_DIR_DEFAULT out= guest= kind= name= token= create= duration=1h groups=()
need() { [ "$2" -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case $1 in
    --dir) need "$1" $#; dir=$2; shift 2 ;;
    --out) need "$1" $#; out=$2; shift 2 ;;
    --guest) guest=1; shift ;;
    --node) need "$1" $#; kind=node name=$2; shift 2 ;;
    --user) need "$1" $#; kind=user name=$2; shift 2 ;;
    --group) need "$1" $#; groups+=("$2"); shift 2 ;;
    --serviceaccount) need "$1" $#; kind=sa name=$2; shift 2 ;;
    --create) create=1; shift ;;
    --duration) need "$1" $#; duration=$2; shift 2 ;;
    --token) need "$1" $#; kind=token token=$2; shift 2 ;;
    --name) need "$1" $#; name=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$kind" ] || die "say which credentials: --node, --user, --serviceaccount or --token (see --help)"
dir=$(cd "$dir" 2>/dev/null && pwd) || die "no test environment at $dir"
testenv_load "$dir"
server=$APISERVER_URL
[ -z "$guest" ] || server=$APISERVER_GUEST_URL
safe() { tr -c 'A-Za-z0-9._-' '_' <<<"$1" | sed 's/_$//'; }
mkdir -p "$dir/kubeconfigs"

case $kind in
  node | user)
    [[ $name =~ ^[A-Za-z0-9._:@-]+$ ]] || die "bad name '$name'"
    subj= cn=$name
    if [ "$kind" = node ]; then cn=system:node:$name groups=(system:nodes "${groups[@]}"); fi
    for g in "${groups[@]}"; do
      [[ $g =~ ^[A-Za-z0-9._:@-]+$ ]] || die "bad group '$g'"
      subj+="/O=$g"
    done
    subj+="/CN=$cn"
    base=$kind-$(safe "$name")
    pki_cert "$dir/pki" "$base" client "$subj"
    # A changed group list means a new certificate.
    want=$(printf '%s\n' "${groups[@]}" | sort | tr '\n' ,)
    have=$(openssl x509 -in "$dir/pki/$base.crt" -noout -subject -nameopt multiline 2>/dev/null |
      sed -n 's/^ *organizationName *= *//p' | sort | tr '\n' ,)
    if [ "$want" != "$have" ]; then
      rm -f "$dir/pki/$base.crt"
      pki_cert "$dir/pki" "$base" client "$subj"
    fi
    [ -n "$out" ] || out=$dir/kubeconfigs/$base${guest:+-guest}.kubeconfig
    testenv_kubeconfig "$out" "$server" "$TESTENV_CA" "$cn" --cert "$dir/pki/$base.crt" "$dir/pki/$base.key"
    ;;
  sa)
    [[ $name == */* ]] || die "--serviceaccount wants NAMESPACE/NAME, got '$name'"
    ns=${name%%/*} sa=${name#*/}
    k=(kubectl --kubeconfig "$dir/kubeconfig" --request-timeout=30s)
    if [ -n "$create" ]; then
      "${k[@]}" get namespace "$ns" >/dev/null 2>&1 || "${k[@]}" create namespace "$ns" >/dev/null
      "${k[@]}" -n "$ns" get serviceaccount "$sa" >/dev/null 2>&1 ||
        "${k[@]}" -n "$ns" create serviceaccount "$sa" >/dev/null
    fi
    token=$("${k[@]}" -n "$ns" create token "$sa" --duration="$duration") ||
      die "could not get a token for serviceaccount $ns/$sa (does it exist? --create makes it)"
    [ -n "$out" ] || out=$dir/kubeconfigs/sa-$(safe "$ns")-$(safe "$sa")${guest:+-guest}.kubeconfig
    testenv_kubeconfig "$out" "$server" "$TESTENV_CA" "system:serviceaccount:$ns:$sa" --token "$token"
    ;;
  token)
    [ -n "$name" ] || name=token
    [ -n "$out" ] || out=$dir/kubeconfigs/token-$(safe "$name")${guest:+-guest}.kubeconfig
    testenv_kubeconfig "$out" "$server" "$TESTENV_CA" "$name" --token "$token"
    ;;
esac
echo "$out"
