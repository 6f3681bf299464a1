{
  "targets": [
    {
      "target_name": "ambit_native",
      "sources": ["ambit_native.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "conditions": [
        ["OS!='linux'", { "sources!": ["ambit_native.c"] }]
      ]
    }
  ]
}
