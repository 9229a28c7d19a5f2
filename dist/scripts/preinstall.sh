#!/bin/sh
# Create the tutti system user and group (broker and tutti-aaa run as it)
# before the files owned by them are unpacked.
set -e
mkdir -p /var/lib/tutti
if ! getent group tutti >/dev/null 2>&1; then
	if command -v addgroup >/dev/null 2>&1 && addgroup --help 2>&1 | grep -q -- --system; then
		addgroup --system tutti >/dev/null
	else
		groupadd --system tutti
	fi
fi
if ! getent passwd tutti >/dev/null 2>&1; then
	if command -v adduser >/dev/null 2>&1 && adduser --help 2>&1 | grep -q -- --system; then
		adduser --system --ingroup tutti --home /var/lib/tutti --no-create-home \
			--shell /usr/sbin/nologin --gecos "tutti broker and signer" tutti >/dev/null
	else
		useradd --system --gid tutti --home-dir /var/lib/tutti --no-create-home \
			--shell /sbin/nologin --comment "tutti broker and signer" tutti
	fi
fi
exit 0
