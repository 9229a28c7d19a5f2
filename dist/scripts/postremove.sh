#!/bin/sh
# After removal: reload systemd. Configuration, keys, logs, state and the
# tutti user are kept (audit trails must survive a reinstall); `dpkg
# --purge` removes the state and logs as well.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = "purge" ]; then
	rm -rf /var/lib/tutti /var/log/tutti
fi
exit 0
