#!/usr/bin/env bash
# The kind quick start: a local cluster with device-mounter installed, and a
# loop device hot-mounted into a running pod and taken away again.
#
#   bash deploy/kind/quickstart.sh          (needs docker, kind, kubectl)
#   CLUSTER=name bash deploy/kind/quickstart.sh
#   kind delete cluster --name device-mounter   (to remove it all)
#
# Steps: create the cluster (deploy/kind/cluster.yaml), build both images
# (device-mounter and the demo's loop device plugin) and load them into kind,
# attach loop devices on each node, `kubectl apply -k deploy/kind`, wait for
# the APIService to be Available, then mount with the CLI into a demo pod.
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=${CLUSTER:-device-mounter}
IMAGE=device-mounter:dev
PLUGIN_IMAGE=device-mounter-loop-device-plugin:dev
BACKING_DIR=/var/lib/device-mounter-demo
LOOPS_PER_NODE=${LOOPS_PER_NODE:-2}

step() { printf '\n==> %s\n' "$*"; }
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "quickstart: $tool is not installed (it needs docker, kind and kubectl)" >&2; exit 1; }
done

step "kind cluster $CLUSTER"
if kind get clusters | grep -qx "$CLUSTER"; then
  echo "exists; reusing it"
else
  kind create cluster --name "$CLUSTER" --config deploy/kind/cluster.yaml --wait 120s
fi
KUBECONFIG_FILE=$(mktemp)
trap 'rm -f "$KUBECONFIG_FILE"' EXIT
kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG_FILE"
export KUBECONFIG=$KUBECONFIG_FILE

step "images"
docker build -f deploy/Dockerfile -t "$IMAGE" .
docker build -f deploy/kind/loop-device-plugin.Dockerfile -t "$PLUGIN_IMAGE" .
kind load docker-image --name "$CLUSTER" "$IMAGE" "$PLUGIN_IMAGE"

step "loop devices on the nodes (files in $BACKING_DIR)"
for node in $(kind get nodes --name "$CLUSTER"); do
  # kind nodes are containers: a new loop device's node may be missing from
  # their /dev, so it is created there before losetup uses it.
  docker exec -i "$node" bash -s "$BACKING_DIR" "$LOOPS_PER_NODE" <<'NODE'
set -euo pipefail
dir=$1; count=$2
mkdir -p "$dir"
attached=$(losetup -j "$dir/disk-0.img" 2>/dev/null | wc -l || true)
if [ "$attached" -gt 0 ]; then echo "$(hostname): already attached"; exit 0; fi
for i in $(seq 0 $((count - 1))); do
  file="$dir/disk-$i.img"
  truncate -s 8M "$file"
  printf 'hello from loop disk %s on %s\n' "$i" "$(hostname)" | dd of="$file" conv=notrunc status=none
  dev=$(losetup -f)
  [ -e "$dev" ] || mknod "$dev" b 7 "${dev#/dev/loop}"
  losetup "$dev" "$file"
  echo "$(hostname): $dev <- $file"
done
NODE
done

step "kubectl apply -k deploy/kind"
kubectl apply -k deploy/kind
kubectl -n device-mounter rollout status deployment/device-mounter-apiserver --timeout=180s
kubectl -n device-mounter rollout status daemonset/device-mounter-agent --timeout=180s
kubectl -n device-mounter rollout status daemonset/device-mounter-loop-device-plugin --timeout=180s
kubectl wait --for=condition=Available apiservice/v1alpha1.device-mounter.io --timeout=180s
kubectl get --raw /apis/device-mounter.io/v1alpha1 >/dev/null && echo "the aggregated API device-mounter.io/v1alpha1 answers"

step "the nodes advertise example.com/loop"
for _ in $(seq 1 60); do
  allocatable=$(kubectl get nodes -o jsonpath='{.items[*].status.allocatable.example\.com/loop}')
  [ -n "$allocatable" ] && [ "$allocatable" != "0" ] && break
  sleep 2
done
kubectl get nodes -o custom-columns='NODE:.metadata.name,LOOP:.status.allocatable.example\.com/loop'

step "demo pod"
kubectl apply -f deploy/kind/demo-pod.yaml
kubectl wait --for=condition=Ready pod/device-mounter-demo --timeout=180s
echo "before: $(kubectl exec device-mounter-demo -- sh -c 'ls /dev/example-* 2>/dev/null || echo no loop device')"

# The CLI from the same image, on the host network to reach kind's API server.
device_mounter() {
  docker run --rm --network host -v "$KUBECONFIG_FILE:/kubeconfig:ro" "$IMAGE" "$@" --kubeconfig /kubeconfig
}

step "mount: device-mounter mount device-mounter-demo --type LOOP --resource example.com/loop=1"
device_mounter mount device-mounter-demo -n default --type LOOP --resource example.com/loop=1 --wait 120
device=$(kubectl exec device-mounter-demo -- sh -c 'ls /dev/example-*' | head -1)
echo "inside the running pod: $(kubectl exec device-mounter-demo -- ls -l "$device")"
echo "reading it: $(kubectl exec device-mounter-demo -- head -c 64 "$device" | tr -d '\0')"

step "unmount"
device_mounter unmount device-mounter-demo -n default --type LOOP --wait 60
echo "after: $(kubectl exec device-mounter-demo -- sh -c 'ls /dev/example-* 2>/dev/null || echo no loop device')"

step "done"
echo "The cluster stays up (kind added it to your kubeconfig): kubectl --context kind-$CLUSTER get pods -A"
echo "Remove it with: kind delete cluster --name $CLUSTER"
