#!/usr/bin/env bash
# Install the Debian packages homepage needs: Debian's Python (readable by the
# Apache user, unlike a pyenv under /root), Apache with its headers for
# building mod_wsgi, wrk for the benchmarks, Java for the HTML validator
# (vnu.jar) the tests run, Chromium for the browser tests (Playwright drives
# Debian's; its own browser downloads are never used), and PostgreSQL 15, whose
# server the tests start privately for their PostgreSQL pass. Does nothing when
# all are there.
set -euo pipefail

need=()
command -v /usr/bin/python3 >/dev/null || need+=(python3)
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
test -e /usr/include/python3*/Python.h 2>/dev/null || need+=(python3-dev)
command -v apache2 >/dev/null || [ -x /usr/sbin/apache2 ] || need+=(apache2)
command -v apxs >/dev/null || [ -x /usr/bin/apxs ] || need+=(apache2-dev)
command -v wrk >/dev/null || need+=(wrk)
command -v gcc >/dev/null || need+=(gcc)
command -v java >/dev/null || need+=(default-jre-headless)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${need[*]}" >&2
    echo "Install them with: sudo apt-get install ${need[*]}" >&2
    exit 1
fi
echo "Installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
