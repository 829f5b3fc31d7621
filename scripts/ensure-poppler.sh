#!/bin/sh
# Make sure poppler-utils (pdftoppm) is available: the report tests render PDF pages to PNG.
# Installs with apt-get only when pdftoppm is missing and we are root; otherwise says what to do.
set -eu

if command -v pdftoppm >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-poppler: pdftoppm not found and not running as root;" >&2
    echo "  install it with: sudo apt-get install poppler-utils" >&2
    echo "  (the PDF page-rendering tests are skipped without it)" >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-poppler: pdftoppm not found and apt-get is not available;" >&2
    echo "  install poppler-utils with your system's package manager." >&2
    exit 0
fi

echo "ensure-poppler: installing poppler-utils with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends poppler-utils
command -v pdftoppm >/dev/null 2>&1
