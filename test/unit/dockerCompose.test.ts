// docker-compose.yml cannot be run on the build machine (no Docker engine), so check
// what a user would check by reading it: the topology of SPEC §10 is wired correctly.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const ROOT = path.resolve(__dirname, '..', '..');

type Env = Record<string, string>;
interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Env | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: Array<string | number | { published?: string | number; target?: number }>;
  container_name?: string;
  deploy?: { replicas?: number };
}

// merge: true — the file shares the app settings through a YAML anchor and `<<`.
const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;

/** Environment as a map, with compose's `${VAR:-default}` / `${VAR:?err}` / `${VAR}` resolved as if VAR were unset. */
function env(name: string): Env {
  const raw = services[name].environment ?? {};
  const entries = Array.isArray(raw)
    ? raw.map((line) => [line.split('=')[0], line.slice(line.indexOf('=') + 1)] as const)
    : Object.entries(raw).map(([k, v]) => [k, String(v)] as const);
  return Object.fromEntries(entries.map(([k, v]) => [k, interpolate(v)]));
}
function interpolate(value: string): string {
  return value.replace(/\$\{(\w+)(?:(:?[-?])([^}]*))?\}/g, (_m, _name, op: string | undefined, arg: string) =>
    op?.endsWith('-') ? arg : op?.endsWith('?') ? '<required>' : '',
  );
}
function dependsOn(name: string): Record<string, string | undefined> {
  const deps = services[name].depends_on ?? [];
  return Array.isArray(deps)
    ? Object.fromEntries(deps.map((d) => [d, undefined]))
    : Object.fromEntries(Object.entries(deps).map(([d, v]) => [d, v?.condition]));
}
function publishedPorts(name: string): string[] {
  return (services[name].ports ?? []).map((p) => {
    if (typeof p === 'object') return String(p.published ?? '');
    const parts = String(p).split('/')[0].split(':'); // [ip:]host:container or container only
    return parts.length >= 2 ? parts[parts.length - 2] : '';
  });
}
const commandText = (name: string) => [services[name].command ?? []].flat().join(' ');

describe('docker-compose.yml', () => {
  it('has the production-shaped services', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['postgres', 'temporal', 'temporal-ui', 'setup', 'api', 'worker']),
    );
  });

  it('keeps PostgreSQL data in a named volume and reports health', () => {
    const pg = services.postgres as Service & { volumes?: string[]; healthcheck?: unknown };
    expect(pg.image).toMatch(/^postgres:16/);
    expect(pg.healthcheck).toBeDefined();
    const named = (pg.volumes ?? []).map((v) => String(v).split(':')[0]);
    expect(named.some((v) => compose.volumes && v in compose.volumes)).toBe(true);
  });

  it('runs a Temporal server that persists to the postgres service', () => {
    const t = env('temporal');
    expect(t.DB).toMatch(/^postgres/);
    expect(t.POSTGRES_SEEDS).toBe('postgres');
    expect(t.DB_PORT).toBe('5432');
    expect(t.POSTGRES_USER).toBe(env('postgres').POSTGRES_USER);
    expect(t.POSTGRES_PWD).toBe(env('postgres').POSTGRES_PASSWORD);
    expect(dependsOn('temporal').postgres).toBe('service_healthy');
  });

  it('points the Temporal Web UI at the temporal service', () => {
    expect(env('temporal-ui').TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(publishedPorts('temporal-ui')).toContain('8233');
  });

  it('migrates and registers search attributes once, before API and worker start', () => {
    expect(commandText('setup')).toContain('src/cli/migrate.ts');
    expect(commandText('setup')).toContain('src/cli/setupSearchAttributes.ts');
    for (const name of ['api', 'worker']) {
      expect(dependsOn(name).setup).toBe('service_completed_successfully');
    }
    expect(commandText('api')).toContain('src/server.ts');
    expect(commandText('worker')).toContain('worker.ts');
  });

  it.each(['setup', 'api', 'worker'])('gives %s the configuration of SPEC §10 against the compose services', (name) => {
    const e = env(name);
    const db = new URL(e.DATABASE_URL);
    expect(db.protocol).toBe('postgres:');
    expect(db.hostname).toBe('postgres');
    // The application's role, not the owner (docs/security.md): it cannot disable ledger triggers.
    expect(db.username).toBe('kyc_app');
    expect(db.username).not.toBe(env('postgres').POSTGRES_USER);
    expect(db.pathname).toBe(`/${env('postgres').POSTGRES_DB}`);
    expect(e.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(e.TEMPORAL_NAMESPACE).toBe('default');
    expect(e.PORT).toMatch(/^\d+$/);
    expect(e.PUBLIC_BASE_URL).toMatch(/^https?:\/\//);
    // Private-network webhooks stay refused outside local runs and tests.
    expect(e.WEBHOOK_ALLOW_PRIVATE_NETWORKS).toBe('false');
    // The ledger key must come from the operator, never a default baked into the file.
    const rawEnv = services[name].environment as Env;
    expect(rawEnv.AUDIT_HMAC_KEY).toMatch(/^\$\{AUDIT_HMAC_KEY:\?/);
    expect(rawEnv.PAYLOAD_MASTER_KEY).toMatch(/^\$\{PAYLOAD_MASTER_KEY:\?/);
    expect(rawEnv.AUDIT_SIGNING_KEY).toMatch(/^\$\{AUDIT_SIGNING_KEY:\?/);
    // /metrics on its own listener inside the compose network, never on a published port.
    expect(e.METRICS_PORT).toMatch(/^\d+$/);
    expect(publishedPorts(name)).not.toContain(e.METRICS_PORT);
    for (const v of ['TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CA', 'TEMPORAL_API_KEY']) expect(Object.keys(rawEnv)).toContain(v);
  });

  it('migrates as the owner and grants the application role its privileges', () => {
    const e = env('setup');
    const owner = new URL(e.MIGRATION_DATABASE_URL);
    expect(owner.username).toBe(env('postgres').POSTGRES_USER);
    expect(owner.hostname).toBe('postgres');
    expect(e.APP_DATABASE_ROLE).toBe(new URL(env('api').DATABASE_URL).username);
    // The role itself is created by the postgres image's init script on first start.
    const pg = services.postgres as Service & { volumes?: string[] };
    const init = (pg.volumes ?? []).map(String).find((v) => v.includes('/docker-entrypoint-initdb.d'));
    expect(init).toBeDefined();
    const dir = path.join(ROOT, init!.split(':')[0]);
    const scripts = fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');
    expect(scripts).toMatch(/CREATE ROLE kyc_app LOGIN/);
    expect(scripts).toMatch(/NOSUPERUSER NOCREATEDB NOCREATEROLE/);
  });

  it('publishes the Temporal frontend and Web UI on the host loopback only', () => {
    for (const name of ['temporal', 'temporal-ui']) {
      const ports = (services[name].ports ?? []).map(String);
      expect(ports.length).toBeGreaterThan(0);
      for (const p of ports) expect([name, p]).toEqual([name, expect.stringMatching(/^127\.0\.0\.1:\d+:\d+$/)]);
    }
  });

  it('configures the Web UI for OIDC sign-in, off unless TEMPORAL_UI_AUTH_ENABLED is set', () => {
    const ui = env('temporal-ui');
    expect(ui.TEMPORAL_AUTH_ENABLED).toBe('false');
    const raw = services['temporal-ui'].environment as Env;
    expect(raw.TEMPORAL_AUTH_ENABLED).toMatch(/^\$\{TEMPORAL_UI_AUTH_ENABLED:-false\}$/);
    for (const v of ['TEMPORAL_AUTH_PROVIDER_URL', 'TEMPORAL_AUTH_CLIENT_ID', 'TEMPORAL_AUTH_CLIENT_SECRET', 'TEMPORAL_AUTH_CALLBACK_URL', 'TEMPORAL_AUTH_SCOPES']) {
      expect(Object.keys(raw)).toContain(v);
    }
  });

  it('publishes the API on the port it listens on', () => {
    expect(publishedPorts('api')).toContain(env('api').PORT);
  });

  it('lets the worker scale: replicas, no container_name, no fixed host port', () => {
    const w = services.worker;
    expect(w.container_name).toBeUndefined();
    expect(publishedPorts('worker')).toEqual([]);
    expect(w.deploy?.replicas).toBeGreaterThanOrEqual(2);
  });

  it('names only existing services in depends_on', () => {
    for (const name of Object.keys(services)) {
      for (const dep of Object.keys(dependsOn(name))) {
        expect({ service: name, dependsOn: dep, exists: dep in services }).toEqual({ service: name, dependsOn: dep, exists: true });
      }
    }
  });

  it('has a Dockerfile for every build context, from node:20 and not running as root', () => {
    const builds = Object.values(services).filter((s) => s.build !== undefined);
    expect(builds.length).toBeGreaterThan(0);
    for (const s of builds) {
      const b = typeof s.build === 'string' ? { context: s.build } : s.build!;
      const dockerfile = path.join(ROOT, b.context ?? '.', b.dockerfile ?? 'Dockerfile');
      expect(fs.existsSync(dockerfile)).toBe(true);
      const text = fs.readFileSync(dockerfile, 'utf8');
      expect(text).toMatch(/^FROM node:20/m);
      const users = [...text.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
      expect(users.length).toBeGreaterThan(0);
      expect(users[users.length - 1]).not.toMatch(/^(root|0)$/);
    }
  });

  it('publishes no host port twice', () => {
    const all = Object.keys(services).flatMap((name) => publishedPorts(name).filter(Boolean));
    expect(all.length).toBeGreaterThan(0);
    expect(new Set(all).size).toBe(all.length);
  });
});
