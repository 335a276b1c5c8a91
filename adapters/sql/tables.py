"""The store's schema. Alembic migrations under ``infra/migrations`` create exactly this.

Every lookup the pipeline makes on its hot paths is one index probe: a user or contact by
e-mail (primary keys lead with ``account_id, email``), colleague domains by ``account_id,
domain``, a provider event by ``connection_id, event_id``, a meeting by ``account_id,
ical_uid``, a push channel by its id.
"""

from __future__ import annotations

import sqlalchemy as sa

from adapters.sql.types import BigIntKey, UtcDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = sa.String(64)
EMAIL = sa.String(320)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    ]


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("api_key_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("api_key_rotated_at", UtcDateTime, nullable=True),
    *_timestamps(),
)

account_domains = sa.Table(
    "account_domains",
    metadata,
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("domain", sa.String(255), primary_key=True),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("email", EMAIL, nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("work_days", sa.String(16), nullable=False, server_default="0,1,2,3,4"),
    sa.Column("work_start", sa.String(5), nullable=False, server_default="09:00"),
    sa.Column("work_end", sa.String(5), nullable=False, server_default="17:00"),
    *_timestamps(),
)

# user_emails and contact_emails are lookup indexes that the directory loader rewrites in the
# same transaction as their users and contacts, so they carry no foreign key: PostgreSQL plans
# a foreign-key check once, on the first row, and a bulk load into a new account then seq-scans
# its parent for every row (100,000 contacts took minutes instead of seconds).
user_emails = sa.Table(
    "user_emails",
    metadata,
    sa.Column("account_id", ID, primary_key=True),
    sa.Column("email", EMAIL, primary_key=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("domain", sa.String(255), nullable=False),
    sa.Column("is_username", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index(None, "account_id", "domain"),
    sa.Index(None, "account_id", "user_id"),
)

companies = sa.Table(
    "companies",
    metadata,
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    *_timestamps(),
)

# company_id is not a foreign key: the CRM may announce a contact before its company.
contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("company_id", ID, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    *_timestamps(),
    sa.Index(None, "account_id", "company_id"),
)

contact_emails = sa.Table(
    "contact_emails",
    metadata,
    sa.Column("account_id", ID, primary_key=True),
    sa.Column("email", EMAIL, primary_key=True),
    sa.Column("contact_id", ID, primary_key=True),
    # Copies of the contact's company, state and last change: the directory lookup reads a
    # page's contacts from this table alone (tests/bench/test_resolution.py). Every write of
    # ``contacts`` writes them too (adapters.sql.directory, adapters.sql.crm_store).
    sa.Column("company_id", ID, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("contact_updated_at", UtcDateTime, nullable=True),
    sa.Index(None, "account_id", "contact_id"),
)

calendar_connections = sa.Table(
    "calendar_connections",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", ID, nullable=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("appointment_type_id", ID, nullable=True),
    sa.Column("connected_at", UtcDateTime, nullable=False),
    sa.Column("credentials", sa.LargeBinary, nullable=True),
    sa.Column("cursor", sa.Text, nullable=True),
    # Where an interrupted multi-page sync resumes (Google page token, Graph next link).
    sa.Column("page_cursor", sa.Text, nullable=True),
    sa.Column("window_start", UtcDateTime, nullable=True),
    sa.Column("window_end", UtcDateTime, nullable=True),
    sa.Column("status", sa.String(32), nullable=False, server_default="active"),
    sa.Column("sync_state", sa.String(32), nullable=False, server_default="idle"),
    sa.Column("last_synced_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    # Coalescing: every hint bumps `sync_requested`; a finished sync records the value it
    # started from in `sync_done`. One lease holder syncs while the other hints just bump.
    sa.Column("sync_requested", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("sync_done", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UtcDateTime, nullable=True),
    # Set by upkeep (window slide, missed notifications); the next sync run takes it and
    # starts from no cursor. A flag, not a cleared cursor: a run in progress would write
    # its cursor back over a cleared one.
    sa.Column("full_sync_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    # When the last sync run that read to the end started: a hint received before then asked
    # for nothing that run did not read, so it is acknowledged without another sync.
    sa.Column("sync_covered_until", UtcDateTime, nullable=True),
    # When the oldest sync request not yet done was received (NULL when none is pending):
    # how far behind the connection is (R36, `calsync connections list`).
    sa.Column("sync_pending_since", UtcDateTime, nullable=True),
    *_timestamps(),
    sa.ForeignKeyConstraint(
        ["account_id", "user_id"], ["users.account_id", "users.id"], ondelete="CASCADE"
    ),
    sa.UniqueConstraint("account_id", "user_id"),
)

# One row per Google channel or Graph subscription; renewal overlaps old and new for a while.
push_channels = sa.Table(
    "push_channels",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column(
        "connection_id",
        sa.String(36),
        sa.ForeignKey("calendar_connections.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("resource_id", sa.String(255), nullable=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.Column("stopped_at", UtcDateTime, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# One row per browser connect attempt (``/api/v1/users/{id}/connect`` -> ``/oauth/...``): the
# ticket of the link, then the OAuth state and the PKCE verifier. Only hashes of the ticket,
# the state and the browser binding are kept; the flow (verifier) is encrypted. Single use:
# ``started_at`` and ``finished_at`` are set once each, under ``expires_at``.
oauth_attempts = sa.Table(
    "oauth_attempts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", ID, nullable=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("appointment_type_id", ID, nullable=True),
    sa.Column("ticket_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("state_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("binding_hash", sa.String(64), nullable=True),
    sa.Column("flow", sa.LargeBinary, nullable=True),
    sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
    sa.Column("started_at", UtcDateTime, nullable=True),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.ForeignKeyConstraint(
        ["account_id", "user_id"], ["users.account_id", "users.id"], ondelete="CASCADE"
    ),
)

appointments = sa.Table(
    "appointments",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("crm_id", ID, nullable=True),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("subject", sa.Text, nullable=False, server_default=""),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("agenda", sa.Text, nullable=False, server_default=""),
    sa.Column("location", sa.Text, nullable=False, server_default=""),
    sa.Column("start_at", UtcDateTime, nullable=True),
    sa.Column("end_at", UtcDateTime, nullable=True),
    sa.Column("all_day", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("start_date", sa.Date, nullable=True),
    sa.Column("end_date", sa.Date, nullable=True),
    sa.Column("time_zone", sa.String(64), nullable=True),
    sa.Column("organizer_kind", sa.String(16), nullable=True),
    sa.Column("organizer_user_id", ID, nullable=True),
    sa.Column("organizer_contact_id", ID, nullable=True),
    sa.Column("organizer_email", EMAIL, nullable=True),
    sa.Column("company_id", ID, nullable=True),
    sa.Column("company_set_by_hand", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("appointment_type_id", ID, nullable=True),
    sa.Column("video_url", sa.Text, nullable=True),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("sync_state", sa.String(32), nullable=False, server_default="synced"),
    sa.Column("sync_error", sa.Text, nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("account_id", "crm_id"),
    sa.Index(None, "account_id", "start_at"),
    sa.Index(None, "account_id", "company_id"),
)

appointment_participants = sa.Table(
    "appointment_participants",
    metadata,
    sa.Column(
        "appointment_id",
        sa.String(36),
        sa.ForeignKey("appointments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("email", EMAIL, primary_key=True),
    sa.Column("account_id", ID, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("user_id", ID, nullable=True),
    sa.Column("contact_id", ID, nullable=True),
    sa.Column("company_id", ID, nullable=True),
    sa.Column("display_name", sa.String(200), nullable=True),
    sa.Column("response", sa.String(16), nullable=False, server_default="needs_action"),
    sa.Index(None, "account_id", "user_id"),
    sa.Index(None, "account_id", "contact_id"),
    sa.Index(None, "account_id", "company_id"),
    sa.Index(None, "account_id", "email"),
)

appointment_rooms = sa.Table(
    "appointment_rooms",
    metadata,
    sa.Column(
        "appointment_id",
        sa.String(36),
        sa.ForeignKey("appointments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("email", EMAIL, primary_key=True),
    sa.Column("name", sa.String(200), nullable=True),
)

event_links = sa.Table(
    "event_links",
    metadata,
    sa.Column("id", BigIntKey, primary_key=True, autoincrement=True),
    sa.Column("account_id", ID, nullable=False),
    sa.Column(
        "appointment_id",
        sa.String(36),
        sa.ForeignKey("appointments.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column(
        "connection_id",
        sa.String(36),
        sa.ForeignKey("calendar_connections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("calendar_owner_user_id", ID, nullable=False),
    sa.Column("event_id", sa.String(1024), nullable=False),
    sa.Column("ical_uid", sa.String(1024), nullable=True),
    sa.Column("instance_start", sa.String(40), nullable=True),
    sa.Column("version_updated", UtcDateTime, nullable=False),
    sa.Column("version_sequence", sa.Integer, nullable=False, server_default="0"),
    sa.Column("version_change_key", sa.String(255), nullable=False, server_default=""),
    sa.Column("etag", sa.String(255), nullable=True),
    sa.Column("gone", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("written_fingerprint", sa.String(64), nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("connection_id", "event_id"),
    sa.Index(None, "account_id", "ical_uid"),
)

# Why an event a sync saw was kept out (R36): one row per event of a calendar, replaced
# when a sync sees it again, deleted once it is synced or cancelled. A synced event has
# none: its link answers. The event's times let a sliding window drop what left it.
event_explanations = sa.Table(
    "event_explanations",
    metadata,
    sa.Column(
        "connection_id",
        sa.String(36),
        sa.ForeignKey("calendar_connections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("event_id", sa.String(1024), primary_key=True),
    sa.Column("rule", sa.String(8), nullable=True),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("seen_at", UtcDateTime, nullable=False),
    sa.Column("event_start", UtcDateTime, nullable=True),
    sa.Column("event_end", UtcDateTime, nullable=True),
)

# Periodic jobs: whoever claims a due row runs the job, on one machine of many.
scheduler_jobs = sa.Table(
    "scheduler_jobs",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("next_run_at", UtcDateTime, nullable=False),
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UtcDateTime, nullable=True),
    sa.Column("last_started_at", UtcDateTime, nullable=True),
    sa.Column("last_finished_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
)

# Idempotent consumers: a message id is recorded in the same transaction as its effects.
inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("consumer", sa.String(64), primary_key=True),
    sa.Column("message_id", sa.String(64), primary_key=True),
    sa.Column("processed_at", UtcDateTime, nullable=False, index=True),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", BigIntKey, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(64), nullable=False, unique=True),
    sa.Column("account_id", ID, nullable=True),
    sa.Column("exchange", sa.String(128), nullable=False),
    sa.Column("routing_key", sa.String(255), nullable=False),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=True, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    # Rows with one key (an appointment) are published one at a time, in id order; a failed
    # row waits until ``next_attempt_at`` and holds back the rows behind it (workers.outbox_relay).
    sa.Column("ordering_key", sa.String(128), nullable=True, index=True),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),
)

# The CRM side of an appointment saved in the CRM (workers.crm): the fingerprint of the last
# write requested for it (R25), the CRM time of the last save applied, and its deletion (R13).
crm_appointments = sa.Table(
    "crm_appointments",
    metadata,
    sa.Column(
        "appointment_id",
        sa.String(36),
        sa.ForeignKey("appointments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("account_id", ID, nullable=False),
    sa.Column("crm_id", ID, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=True),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("deleted_at", UtcDateTime, nullable=True),
    # What the calendar was last given: the save's fingerprint (R25) and the people and
    # rooms we wrote, so a later write keeps the ones added in the calendar (R24).
    # written_rooms is NULL for writes made before it was recorded.
    sa.Column("written_fingerprint", sa.String(64), nullable=True),
    sa.Column("written_attendees", sa.JSON, nullable=True),
    sa.Column("written_rooms", sa.JSON, nullable=True),
    sa.Column("written_at", UtcDateTime, nullable=True),
    sa.Column("write_calls", sa.Integer, nullable=False, server_default="0"),
    *_timestamps(),
    sa.UniqueConstraint("account_id", "crm_id"),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", BigIntKey, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(64), nullable=True, index=True),
    sa.Column("queue", sa.String(128), nullable=False, index=True),
    sa.Column("exchange", sa.String(128), nullable=False, server_default=""),
    sa.Column("routing_key", sa.String(255), nullable=False, server_default=""),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("reason", sa.String(64), nullable=False, index=True),
    sa.Column("error_class", sa.String(255), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_failed_at", UtcDateTime, nullable=False),
    sa.Column("last_failed_at", UtcDateTime, nullable=False, index=True),
    sa.Column("account_id", ID, nullable=True, index=True),
    sa.Column("trace_id", sa.String(64), nullable=True),
    sa.Column("replay_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_replayed_at", UtcDateTime, nullable=True),
    sa.Column("parked_at", UtcDateTime, nullable=False),
)

# What on-call did to dead letters (``calsync dlq replay`` / ``purge``): one row per letter
# and action, grouped by ``run_id`` (one command). No foreign key: a purged letter's rows stay.
dead_letter_audit = sa.Table(
    "dead_letter_audit",
    metadata,
    sa.Column("id", BigIntKey, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("dead_letter_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("message_id", sa.String(64), nullable=True),
    sa.Column("queue", sa.String(128), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False, index=True),
    sa.Column("detail", sa.JSON, nullable=False),
)

# Sync lag over time, for the console's plot: the scheduler's ``sample_lag`` job writes one
# row every few minutes and drops rows older than two days, so the table stays tiny.
sync_lag_samples = sa.Table(
    "sync_lag_samples",
    metadata,
    sa.Column("at", UtcDateTime, primary_key=True),
    # Connections that can lag (every one not disconnected), and how many of them did.
    sa.Column("connections", sa.Integer, nullable=False),
    sa.Column("lagging", sa.Integer, nullable=False),
    sa.Column("max_lag_seconds", sa.Integer, nullable=False),
    sa.Column("avg_lag_seconds", sa.Integer, nullable=False),
)
