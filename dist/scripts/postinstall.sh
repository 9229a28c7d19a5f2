#!/bin/sh
# Fix ownership in case the package manager unpacked before the user
# existed, and tell systemd about the units. Nothing is enabled or
# started: the node needs its certificate first (docs/quickstart.md).
set -e
chown root:tutti /var/log/tutti /etc/tutti/broker.conf /etc/tutti/aaa.yaml 2>/dev/null || true
chown tutti:tutti /var/lib/tutti 2>/dev/null || true
chmod 0750 /var/lib/tutti /etc/tutti/policies
# Certificates are public and every operator's client.conf names the CA:
# the directory is searchable and the CA readable by all (older packages
# made both 0750 root:tutti). Keys keep their own, private, modes.
chown root:root /etc/tutti/pki
chmod 0755 /etc/tutti/pki
if [ -f /etc/tutti/pki/ca.pem ]; then chmod a+r /etc/tutti/pki/ca.pem; fi
chmod 0770 /var/log/tutti
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	# an upgrade restarts what was running, so the new binaries are used
	for unit in tuttid tutti-broker tutti-aaa; do
		if systemctl is-active --quiet "$unit.service"; then
			systemctl try-restart "$unit.service" || true
		fi
	done
fi
exit 0
