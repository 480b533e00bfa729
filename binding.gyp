{
  "targets": [
    {
      "target_name": "locksmith",
      "sources": ["src/binding.cc", "src/waiter.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=6",
        "NAPI_CPP_EXCEPTIONS",
        "LOCKSMITH_SOURCE_HASH=\"<!(node scripts/source-hash.js)\""
      ],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-fvisibility=hidden", "-fstack-protector-strong"],
      "conditions": [
        ["OS=='win'", {
          "sources": ["src/lock_win.cc"],
          "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
        }, {
          "sources": ["src/lock_unix.cc"],
          "libraries": ["-lpthread"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "10.15"
          }
        }]
      ]
    }
  ]
}
