# A Kubernetes node in the test VM (busybox sh): containerd (Debian's, with runc and the CNI
# plugins) and kubelet, registering with the host's kube-apiserver at 10.0.2.2. Source after lib.sh:
#   . /schedkit/tests/lib.sh; . /schedkit/tests/node_lib.sh
# tests/vm/node/run.sh puts the binaries and files in place and sets the environment:
#   NODE_NAME        the node's name (the kubelet's client certificate is system:node:NODE_NAME)
#   NODE_LABELS      --node-labels for the kubelet (k=v,k=v)
#   REGISTRY         host:port of the host's plain-HTTP registry as the guest sees it (10.0.2.2:PORT)
#   SANDBOX_IMAGE    the pod sandbox (pause) image, in that registry
#   /etc/kubernetes/kubelet.kubeconfig  /etc/kubernetes/pki/ca.crt     from the testenv PKI
#   /usr/bin/{containerd,containerd-shim-runc-v2,runc,kubelet}  /opt/cni/bin/{bridge,host-local,loopback}
NODE_LOGS=/var/log/schedkit-node
CONTAINERD_LOG=$NODE_LOGS/containerd.log
KUBELET_LOG=$NODE_LOGS/kubelet.log
CONTAINERD_SOCK=/run/containerd/containerd.sock

node_fail() {
  node_dump
  fail "$@"
}

# The last lines of everything that could say why: containerd, kubelet, the pods' own logs.
node_dump() {
  echo "--- containerd log (last 40 lines):"; tail -40 "$CONTAINERD_LOG" 2>/dev/null
  echo "--- kubelet log (errors, last 60):"
  grep -E '^[EW][0-9]{4} ' "$KUBELET_LOG" 2>/dev/null | tail -60
  # The pods' own logs are streamed as they are written (node_follow_pod_logs).
  echo "--- sched_ext: state $(cat /sys/kernel/sched_ext/state 2>/dev/null), ops $(cat /sys/kernel/sched_ext/root/ops 2>/dev/null)"
}

# The host side of a node, as a distribution would set it up.
node_prepare() {
  # The initramfs is the root filesystem. Make it shared, as systemd does on a real node: the
  # kubelet's HostToContainer volumes (the agent's /host) need a shared or slave source mount.
  mount --make-rshared / || fail "mount --make-rshared / failed"
  # A tmpfs of its own for the runtime's and the kubelet's state, so cAdvisor and the eviction
  # manager see a filesystem with a size (the initramfs root is one as well, but unnamed).
  mkdir -p /var/lib "$NODE_LOGS" /var/log/pods /var/log/containers
  mount -t tmpfs -o mode=0755,size=60% tmpfs /var/lib || fail "cannot mount /var/lib"
  mkdir -p /var/lib/containerd /var/lib/kubelet /etc/containerd /etc/cni/net.d /opt/cni/bin
  # cAdvisor and the kubelet read the machine ID (systemd would have made one).
  [ -s /etc/machine-id ] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >/etc/machine-id
  echo "$NODE_NAME" >/etc/hostname
  hostname "$NODE_NAME"
  grep -q " $NODE_NAME\$" /etc/hosts || echo "10.0.2.15 $NODE_NAME" >>/etc/hosts
  # Pod networking needs bridge and veth (modules the VM does not carry, so the bridge plugin
  # would fail for a pod network; schedkit's pods are hostNetwork). The conflist is still needed:
  # containerd reports NetworkReady, and the node turns Ready, once it has loaded one.
  cat >/etc/cni/net.d/10-schedkit.conflist <<'JSON'
{
  "cniVersion": "1.0.0",
  "name": "schedkit-vm",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "loopback"}
  ]
}
JSON
}

# containerd: the CRI plugin with cgroupfs (no systemd), the native snapshotter (overlay is a
# module in Debian's kernels and the VM carries only the network ones), runc without pivot_root
# (the initramfs root cannot be pivoted away from), no AppArmor profile (no apparmor_parser), and
# the host's registry over plain HTTP through a hosts.toml.
node_start_containerd() {
  mkdir -p "/etc/containerd/certs.d/$REGISTRY"
  cat >"/etc/containerd/certs.d/$REGISTRY/hosts.toml" <<TOML
server = "http://$REGISTRY"
[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
TOML
  cat >/etc/containerd/config.toml <<TOML
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.overlayfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  disable_apparmor = true
  restrict_oom_score_adj = false
  tolerate_missing_hugetlb_controller = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/bin/runc"
        SystemdCgroup = false
        NoPivotRoot = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
TOML
  containerd --config /etc/containerd/config.toml >>"$CONTAINERD_LOG" 2>&1 &
  CONTAINERD_PID=$!
  wait_until 60 test -S "$CONTAINERD_SOCK" || node_fail "containerd did not open $CONTAINERD_SOCK in 60 s"
  ok "containerd $(containerd --version | awk '{print $3}') listening (uptime $(uptime_s) s)"
}

# kubelet: cgroupfs, containerd's socket, x509 + webhook authentication and webhook authorization
# (as kubeadm sets it up), eviction thresholds a tmpfs root does not trip, no cluster DNS, and
# patience for a TCG guest.
node_start_kubelet() {
  cat >/etc/kubernetes/kubelet.yaml <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: /etc/kubernetes/pki/ca.crt}
authorization: {mode: Webhook}
failSwapOn: false
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
runtimeRequestTimeout: 10m
nodeStatusReportFrequency: 10s
resolvConf: /etc/resolv.conf
staticPodPath: ""
rotateCertificates: false
serverTLSBootstrap: false
YAML
  kubelet --config=/etc/kubernetes/kubelet.yaml --kubeconfig=/etc/kubernetes/kubelet.kubeconfig \
    --hostname-override="$NODE_NAME" --node-ip=10.0.2.15 --node-labels="$NODE_LABELS" \
    --root-dir=/var/lib/kubelet --cert-dir=/var/lib/kubelet/pki --v=1 >>"$KUBELET_LOG" 2>&1 &
  KUBELET_PID=$!
  ok "kubelet $(kubelet --version | awk '{print $2}') started (uptime $(uptime_s) s)"
}

node_alive() {
  kill -0 "$CONTAINERD_PID" 2>/dev/null || node_fail "containerd exited"
  kill -0 "$KUBELET_PID" 2>/dev/null || node_fail "kubelet exited"
}

# Streams every container log the kubelet writes (/var/log/pods/NS_POD_UID/CONTAINER/N.log) to
# the job's output, one "[CONTAINER#N] ..." line per line, so the test's output shows the agent's
# and the operator's logs. Call it repeatedly: each file is followed once.
NODE_FOLLOWED=" "
node_follow_pod_logs() {
  for f in /var/log/pods/*/*/*.log; do
    [ -f "$f" ] || continue
    case $NODE_FOLLOWED in *" $f "*) continue ;; esac
    NODE_FOLLOWED="$NODE_FOLLOWED$f "
    c=${f%/*}; c=${c##*/}; n=${f##*/}; n=${n%.log}
    # CRI log lines are "TIME STREAM TAG MESSAGE": keep the message.
    tail -n +1 -f "$f" | awk -v p="[$c#$n]" '{ $1 = $2 = $3 = ""; sub(/^ +/, ""); print p, $0; fflush() }' &
  done
}
