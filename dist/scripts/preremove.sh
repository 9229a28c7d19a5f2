#!/bin/sh
# Stop and disable the services when the package is removed (not on a
# Debian upgrade, where $1 is "upgrade"; rpm passes 1 on upgrade).
set -e
case "$1" in
upgrade|1) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
	for unit in tuttid tutti-broker tutti-aaa; do
		systemctl disable --now "$unit.service" >/dev/null 2>&1 || true
	done
fi
exit 0
