import fs from 'node:fs';
import path from 'node:path';

// docs/audit.md shows the independent verification script in full; the integration tests run
// the file. This keeps the two identical, so what the doc shows is what was tested.
const ROOT = path.resolve(__dirname, '..', '..');

test('docs/audit.md includes scripts/verify-audit-export.mjs verbatim', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'audit.md'), 'utf8');
  const script = fs.readFileSync(path.join(ROOT, 'scripts', 'verify-audit-export.mjs'), 'utf8');
  const m = /<!-- BEGIN scripts\/verify-audit-export\.mjs -->\n```js\n([\s\S]*?)```\n<!-- END scripts\/verify-audit-export\.mjs -->/.exec(doc);
  expect(m).not.toBeNull();
  expect(m![1]).toBe(script);
});
