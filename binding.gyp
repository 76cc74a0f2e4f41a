{
  "targets": [
    {
      "target_name": "multiproc_native",
      "sources": ["native/multiproc.cc", "native/waits.cc", "native/zygote.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-O3"],
      "cflags_cc!": ["-O3"],
      "cflags": ["-O2"],
      "xcode_settings": { "GCC_OPTIMIZATION_LEVEL": "2" }
    }
  ]
}
