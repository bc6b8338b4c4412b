import type { Knex } from 'knex';
// timestamptz(3): JSON carries milliseconds, so keyset cursors compare exactly.

// Records for organizations, credentials, settings, sessions and their documents and
// analyses, and the webhook delivery log. Personal data lives only in entities,
// documents and analyses.result, which retention purges; everything else holds ids.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('organizations', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('api_keys', (t) => {
    t.uuid('id').primary();
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.text('label').notNullable();
    t.text('token_hash').notNullable().unique();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true, precision: 3 });
  });

  await knex.schema.createTable('operators', (t) => {
    t.uuid('id').primary();
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.text('email').notNullable();
    t.text('role').notNullable().checkIn(['admin', 'analyst', 'auditor']);
    t.text('token_hash').notNullable().unique();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('disabled_at', { useTz: true, precision: 3 });
    t.unique(['organization_id', 'email']);
  });

  await knex.schema.createTable('settings', (t) => {
    t.uuid('organization_id').primary().references('organizations.id');
    t.text('session_end_webhook_url');
    t.text('decision_webhook_url');
    t.text('data_retention');
    t.text('session_link_expiry').notNullable().defaultTo('1d');
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
  });

  // Signing secrets: the newest is current; an older one keeps signing until expires_at.
  await knex.schema.createTable('webhook_secrets', (t) => {
    t.uuid('id').primary();
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.text('secret').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true, precision: 3 });
    t.index(['organization_id', 'created_at']);
  });

  await knex.schema.createTable('entities', (t) => {
    t.uuid('id').primary();
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.text('type').notNullable().checkIn(['person', 'company']);
    t.jsonb('personal_data'); // userInput: firstName, lastName, birthDate; null once purged
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('purged_at', { useTz: true, precision: 3 });
  });

  await knex.schema.createTable('sessions', (t) => {
    t.uuid('id').primary();
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.uuid('entity_id').notNullable().references('entities.id');
    t.text('journey_id');
    t.text('correlation_id');
    t.text('redirect_url');
    t.text('link_token_hash').notNullable().unique();
    t.text('link_expiry').notNullable();
    t.timestamp('link_expires_at', { useTz: true, precision: 3 }).notNullable();
    t.text('status').notNullable().checkIn(['created', 'in_progress', 'completed', 'expired', 'purged']);
    t.text('verdict').checkIn(['ai_approved', 'ai_rejected', 'verify', 'user_approved', 'user_rejected']);
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('started_at', { useTz: true, precision: 3 });
    t.timestamp('completed_at', { useTz: true, precision: 3 });
    t.timestamp('expired_at', { useTz: true, precision: 3 });
    t.timestamp('purged_at', { useTz: true, precision: 3 });
    t.index(['organization_id', 'created_at', 'id']);
    t.index(['organization_id', 'correlation_id']);
  });

  await knex.schema.createTable('documents', (t) => {
    t.uuid('id').primary();
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.uuid('session_id').notNullable().references('sessions.id');
    t.text('type');
    t.text('file_name');
    t.text('content_type');
    t.integer('size_bytes');
    t.binary('content');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('purged_at', { useTz: true, precision: 3 });
    t.index(['session_id']);
  });

  await knex.schema.createTable('analyses', (t) => {
    t.uuid('id').primary();
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.uuid('session_id').references('sessions.id');
    t.uuid('entity_id').notNullable().references('entities.id');
    t.uuid('document_id').references('documents.id');
    t.text('kind').notNullable();
    t.text('status')
      .notNullable()
      .checkIn(['ai_approved', 'ai_rejected', 'verify', 'user_approved', 'user_rejected', 'purged']);
    t.jsonb('result');
    t.text('correlation_id');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('decided_at', { useTz: true, precision: 3 });
    t.uuid('decided_by');
    t.timestamp('purged_at', { useTz: true, precision: 3 });
    t.index(['session_id']);
  });

  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.uuid('id').primary();
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.text('event').notNullable().checkIn(['session_end', 'decision', 'test']);
    // One delivery per event, whatever the number of activity retries.
    t.text('event_key').notNullable();
    t.uuid('session_id');
    t.uuid('analysis_id');
    t.json('payload').notNullable(); // ids and statuses only (SPEC §5); json keeps the seed's key order
    t.text('status').notNullable().checkIn(['pending', 'succeeded', 'failed', 'skipped']);
    t.integer('attempt_count').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('next_attempt_at', { useTz: true, precision: 3 });
    t.unique(['organization_id', 'event_key']);
    t.index(['organization_id', 'created_at', 'id']);
  });

  await knex.schema.createTable('webhook_attempts', (t) => {
    t.uuid('id').primary();
    t.uuid('delivery_id').notNullable().references('webhook_deliveries.id');
    t.integer('series').notNullable().defaultTo(1); // bumped by each redelivery
    t.integer('attempt_no').notNullable();
    t.text('url');
    t.text('outcome').notNullable().checkIn(['success', 'failure', 'refused', 'skipped']);
    t.integer('status_code');
    t.integer('duration_ms');
    t.text('error');
    t.text('response_body');
    t.timestamp('attempted_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.unique(['delivery_id', 'series', 'attempt_no']);
  });

  await knex.schema.createTable('idempotency_keys', (t) => {
    t.uuid('organization_id').notNullable().references('organizations.id');
    t.text('scope').notNullable(); // route, e.g. "POST /v1/sessions"
    t.text('key').notNullable();
    t.text('request_hash').notNullable();
    t.integer('response_status');
    t.jsonb('response_body');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.primary(['organization_id', 'scope', 'key']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'idempotency_keys',
    'webhook_attempts',
    'webhook_deliveries',
    'analyses',
    'documents',
    'sessions',
    'entities',
    'webhook_secrets',
    'settings',
    'operators',
    'api_keys',
    'organizations',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
