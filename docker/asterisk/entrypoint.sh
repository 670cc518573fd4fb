#!/bin/sh
# Entrypoint of ccpros-asterisk: check the rendered config is there, fix the ownership of the
# instance directories (the job AsteriskInstance._chown does locally), then exec the command
# (asterisk -f ... as PID 1, so that docker stop's SIGTERM reaches it).
set -eu

instance=${CCPROS_INSTANCE_DIR:-/var/lib/ccpros/instances/prod}
app_uid=${CCPROS_APP_UID:-10001}     # the ccpros user of ccpros-app, who writes etc/ and sounds/

if [ ! -f "$instance/etc/asterisk.conf" ]; then
    echo "ccpros-asterisk: no $instance/etc/asterisk.conf: run the setup service first" \
         "(docker compose up does; by hand: docker compose run --rm setup)" >&2
    exit 1
fi

# Written by ccpros-setup, read by Asterisk through its group. The setgid bit keeps new files in
# group asterisk; files are 0640 (they hold the AMI, ARI, database and SIP passwords).
for dir in "$instance/etc" "$instance/sounds"; do
    mkdir -p "$dir"
    chown -R "$app_uid:asterisk" "$dir"
    chmod -R g+rX,o-rwx "$dir"
    find "$dir" -type d -exec chmod g+s {} +
done

# Asterisk's own: astdb (persistent queue members), spool (recordings), logs, control socket.
for dir in "$instance/db" "$instance/spool" "$instance/log" "$instance/run"; do
    mkdir -p "$dir"
    find "$dir" ! -user asterisk -exec chown asterisk:asterisk {} +
done
chown asterisk:asterisk "$instance"

exec "$@"
