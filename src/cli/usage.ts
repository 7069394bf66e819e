// The CLI's names and usage lines, apart from the commands themselves so that
// the entry point can print help (and tell it runs as a kubectl plugin)
// without loading any command's dependencies.
import { basename } from "node:path";

/** The executable name kubectl looks for to offer `kubectl device-mounter`. */
export const KUBECTL_PLUGIN_NAME = "kubectl-device_mounter";

export const isKubectlPlugin = (argv0: string): boolean => basename(argv0).replace(/\.exe$/i, "") === KUBECTL_PLUGIN_NAME;

export const MOUNT_USAGE =
  "device-mounter mount POD [-n NAMESPACE] --type DEVICE_TYPE --resource NAME=QUANTITY... [--container NAME] [--wait SECONDS] [--label KEY=VALUE]... [--annotation KEY=VALUE]... [--patch JSON]... [--kubeconfig FILE] [--context NAME] [-o text|json]";
export const UNMOUNT_USAGE = "device-mounter unmount POD [-n NAMESPACE] --type DEVICE_TYPE [--container NAME] [--wait SECONDS] [--force] [--kubeconfig FILE] [--context NAME] [-o text|json]";
