{
  "targets": [
    {
      "target_name": "device_mounter",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/binding.cc",
        "src/bpf.cc",
        "src/container_path.cc",
        "src/dir_lock.cc",
        "src/mntns.cc",
        "src/node_ops.cc",
        "src/ns_thread.cc",
        "src/sys_error.cc",
        "src/xattr.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
