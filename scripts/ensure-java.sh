#!/bin/sh
# Make sure a Java runtime (17 or newer) is available: the Spark engine (pyspark) runs on the JVM.
# Installs a headless JRE with apt-get only when java is missing and we are root; otherwise says
# what to do. Java 17 is what Spark 4 needs (Spark 3.5 also runs on 8 and 11).
set -eu

if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    exit 0
fi
if command -v java >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-java: java not found and not running as root;" >&2
    echo "  install it with: sudo apt-get install openjdk-17-jre-headless (or set JAVA_HOME)" >&2
    echo "  (the Spark engine and its tests need it)" >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-java: java not found and apt-get is not available;" >&2
    echo "  install a Java 17+ runtime with your system's package manager." >&2
    exit 0
fi

echo "ensure-java: installing a headless Java runtime with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update
# openjdk-17 on Debian 12 / Ubuntu 22.04+; the distribution's default JRE elsewhere.
apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    || apt-get install -y --no-install-recommends default-jre-headless
command -v java >/dev/null 2>&1
