"""The hash-locked Node toolchain and clients (package.json, package-lock.json; installed by
scripts/node-deps) and the scripts the client tests run with it."""
