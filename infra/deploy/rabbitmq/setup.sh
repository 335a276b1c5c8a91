#!/usr/bin/env bash
# RabbitMQ for calsync: a vhost, the application user, the KEDA monitoring user, policies.
# Safe to run again (passwords are reset to the given ones, policies rewritten). Run it where
# rabbitmqctl reaches a node of the cluster (any node: users, vhosts and policies are
# cluster-wide):
#
#   CALSYNC_MQ_PASSWORD=... [CALSYNC_MQ_KEDA_PASSWORD=...] infra/deploy/rabbitmq/setup.sh
#
# Environment (passwords are read from here and given to rabbitmqctl on stdin, never as
# arguments, so they show in no process list):
#   CALSYNC_MQ_VHOST          vhost                                     default calsync
#   CALSYNC_MQ_USER           user in CALSYNC_BROKER_URL                default calsync
#   CALSYNC_MQ_PASSWORD       its password                              required
#   CALSYNC_MQ_KEDA_USER      management-API user KEDA reads queues as  default calsync-keda
#   CALSYNC_MQ_KEDA_PASSWORD  its password; unset: no KEDA user
#   RABBITMQCTL               the rabbitmqctl command, e.g. "rabbitmqctl -n rabbit@mq-1"
#
# Queue arguments are declared by calsync itself (`calsync broker declare`, and every serve,
# worker and scheduler at start; adapters/broker/topology.py): quorum work queues sync,
# connections, crm, writeback with x-delivery-limit 10, dead-lettering at-least-once to the
# calsync.dlx exchange, reject-publish overflow, x-max-length 1,000,000; their retry queues
# <queue>.retry.{5,30,300}s; calsync.dead behind calsync.dlx. The policies below add what the
# code leaves to the operator and repeat nothing that could disagree with it:
#   - queue-leader-locator=balanced on every queue, so quorum leaders spread over the nodes
#     instead of all landing on the node the first worker connected to;
#   - delivery-limit=10 on the four work queues only: the same limit the code declares, so
#     a queue declared before the argument existed gets it too. Never on calsync.dead, whose
#     parker requeues while the store is down and must never lose a letter to a limit.
# Only one policy applies to a queue (the highest priority), so the work-queue policy
# repeats the leader locator. Quorum queues' initial group size is not a policy key in
# RabbitMQ 3.x: the code declares none, so each queue gets the broker's default of 3
# members (advanced.config {rabbit, [{quorum_cluster_size, 3}]}), one per node of a
# 3-node cluster.
set -euo pipefail

VHOST=${CALSYNC_MQ_VHOST:-calsync}
APP_USER=${CALSYNC_MQ_USER:-calsync}
KEDA_USER=${CALSYNC_MQ_KEDA_USER:-calsync-keda}
read -r -a CTL <<<"${RABBITMQCTL:-rabbitmqctl}"
: "${CALSYNC_MQ_PASSWORD:?set CALSYNC_MQ_PASSWORD to the password of $APP_USER}"

WORK_QUEUES='sync|connections|crm|writeback'
# What calsync declares, publishes to and consumes from, and nothing else: its queues, their
# retry queues, calsync.* (calsync.dead, calsync.dlx) and the default exchange it publishes to.
QUEUES="(${WORK_QUEUES})|(${WORK_QUEUES})\\.retry\\.[0-9]+s|calsync\\..+"
CONFIGURE="^(${QUEUES})\$"
WRITE="^(${QUEUES}|amq\\.default)\$"
READ="^(${QUEUES})\$"

ctl() { "${CTL[@]}" -q "$@"; }

user_exists() {
  ctl list_users --no-table-headers | cut -f1 | grep -qxF -- "$1"
}

ensure_user() {  # ensure_user NAME PASSWORD
  if user_exists "$1"; then
    printf '%s\n' "$2" | ctl change_password "$1" >/dev/null
  else
    printf '%s\n' "$2" | ctl add_user "$1" >/dev/null
  fi
}

if ! ctl list_vhosts --no-table-headers | grep -qxF -- "$VHOST"; then
  ctl add_vhost "$VHOST"
fi

ensure_user "$APP_USER" "$CALSYNC_MQ_PASSWORD"
ctl set_user_tags "$APP_USER"
ctl set_permissions -p "$VHOST" "$APP_USER" "$CONFIGURE" "$WRITE" "$READ"

if [[ -n "${CALSYNC_MQ_KEDA_PASSWORD:-}" ]]; then
  # The management API's queue lengths need the monitoring tag; no AMQP rights at all.
  ensure_user "$KEDA_USER" "$CALSYNC_MQ_KEDA_PASSWORD"
  ctl set_user_tags "$KEDA_USER" monitoring
  ctl set_permissions -p "$VHOST" "$KEDA_USER" '^$' '^$' '^$'
fi

ctl set_policy -p "$VHOST" --apply-to queues --priority 10 \
  calsync-work-queues "^(${WORK_QUEUES})\$" \
  '{"queue-leader-locator": "balanced", "delivery-limit": 10}'
ctl set_policy -p "$VHOST" --apply-to queues --priority 0 \
  calsync-queues '.*' \
  '{"queue-leader-locator": "balanced"}'

echo "RabbitMQ: vhost $VHOST, user $APP_USER$([[ -n "${CALSYNC_MQ_KEDA_PASSWORD:-}" ]] && echo ", monitoring user $KEDA_USER"), policies calsync-work-queues and calsync-queues"
