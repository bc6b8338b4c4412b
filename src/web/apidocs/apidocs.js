// Renders /openapi.json as a readable reference: one section per tag, one card per operation,
// with its parameters, request body and responses as compact schema trees. No dependencies.
'use strict';

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
};

function resolve(doc, schema) {
  if (schema && schema.$ref) return schema.$ref.split('/').slice(1).reduce((o, k) => o[k], doc);
  return schema || {};
}

function typeLabel(doc, schema) {
  schema = resolve(doc, schema);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.anyOf || schema.oneOf) return (schema.anyOf || schema.oneOf).map((s) => typeLabel(doc, s)).join(' | ');
  const t = Array.isArray(schema.type) ? schema.type.join(' | ') : schema.type || 'any';
  if (t === 'array') return `${typeLabel(doc, schema.items)}[]`;
  const extras = [];
  if (schema.format) extras.push(schema.format);
  if (schema.pattern) extras.push(`/${schema.pattern}/`);
  if (schema.minLength !== undefined || schema.maxLength !== undefined) extras.push(`length ${schema.minLength ?? 0}–${schema.maxLength ?? '∞'}`);
  if (schema.minimum !== undefined || (schema.maximum !== undefined && schema.maximum < 1e15)) extras.push(`${schema.minimum ?? ''}–${schema.maximum < 1e15 ? schema.maximum : ''}`);
  if (schema.default !== undefined) extras.push(`default ${JSON.stringify(schema.default)}`);
  return extras.length ? `${t} (${extras.join(', ')})` : t;
}

function schemaTree(doc, schema, depth = 0) {
  schema = resolve(doc, schema);
  const variants = schema.anyOf || schema.oneOf;
  if (variants) {
    const objects = variants.map((s) => resolve(doc, s)).filter((s) => s.properties || s.type === 'array');
    if (objects.length === 1) return el('div', {}, el('span', { class: 'muted' }, typeLabel(doc, schema)), schemaTree(doc, objects[0], depth));
  }
  if (schema.type === 'array' && resolve(doc, schema.items).properties) {
    return el('div', {}, el('span', { class: 'muted' }, 'array of'), schemaTree(doc, schema.items, depth));
  }
  if (!schema.properties) return el('code', {}, typeLabel(doc, schema));
  const required = new Set(schema.required || []);
  const rows = Object.entries(schema.properties).map(([name, prop]) => {
    const p = resolve(doc, prop);
    const nested = depth < 4 && (p.properties || (p.type === 'array' && resolve(doc, p.items).properties) || p.anyOf);
    return el(
      'li',
      {},
      el('code', { class: 'prop' }, name),
      required.has(name) ? '' : el('span', { class: 'muted' }, ' optional'),
      ' ',
      nested ? schemaTree(doc, p, depth + 1) : el('code', {}, typeLabel(doc, p)),
      p.description ? el('span', { class: 'desc' }, ` — ${p.description}`) : null,
    );
  });
  if (schema.additionalProperties === false) rows.push(el('li', { class: 'muted' }, 'no other fields'));
  return el('ul', { class: 'tree' }, rows);
}

function operationCard(doc, path, method, op) {
  const id = op.operationId;
  const card = el('section', { class: 'op', id, 'aria-labelledby': `${id}-h` });
  card.append(
    el('h3', { id: `${id}-h` }, el('span', { class: `method m-${method}` }, method.toUpperCase()), ' ', el('code', {}, path)),
    el('p', {}, op.summary),
  );
  for (const para of (op.description || '').split('\n\n')) if (para) card.append(el('p', { class: 'muted' }, para));
  if (op.parameters?.length) {
    card.append(el('h4', {}, 'Parameters'));
    card.append(
      el('ul', { class: 'tree' }, op.parameters.map((p) =>
        el('li', {}, el('code', { class: 'prop' }, p.name), ` (${p.in}${p.required ? ', required' : ''}) `, el('code', {}, typeLabel(doc, p.schema)), p.description ? el('span', { class: 'desc' }, ` — ${p.description}`) : null),
      )),
    );
  }
  if (op.requestBody) {
    card.append(el('h4', {}, `Body${op.requestBody.required ? '' : ' (optional)'}`));
    card.append(schemaTree(doc, op.requestBody.content['application/json'].schema));
  }
  card.append(el('h4', {}, 'Responses'));
  const list = el('dl', { class: 'responses' });
  for (const [status, response] of Object.entries(op.responses)) {
    const types = Object.keys(response.content || {});
    const json = response.content?.['application/json'];
    list.append(el('dt', { class: `s${status[0]}` }, status), el('dd', {}, response.description, types.length ? el('span', { class: 'muted' }, ` (${types.join(', ')})`) : null));
    if (json && Number(status) < 400) {
      const details = el('details', {}, el('summary', {}, 'schema'), schemaTree(doc, json.schema));
      list.append(el('dd', {}, details));
    }
  }
  card.append(list);
  return card;
}

async function main() {
  const content = document.getElementById('content');
  const toc = document.getElementById('toc');
  let doc;
  try {
    const res = await fetch('/openapi.json');
    doc = await res.json();
  } catch (err) {
    content.textContent = `Could not load /openapi.json: ${err}`;
    return;
  }
  content.replaceChildren(el('h2', {}, doc.info.title, ` v${doc.info.version}`), el('p', {}, doc.info.description));
  const byTag = new Map();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = op.tags?.[0] || 'Other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, method, op]);
    }
  }
  const tocList = el('ul');
  for (const [tag, ops] of byTag) {
    content.append(el('h2', { id: `tag-${tag}` }, tag));
    const sub = el('ul');
    for (const [path, method, op] of ops) {
      content.append(operationCard(doc, path, method, op));
      sub.append(el('li', {}, el('a', { href: `#${op.operationId}` }, `${method.toUpperCase()} ${path}`)));
    }
    tocList.append(el('li', {}, el('a', { href: `#tag-${tag}` }, tag), sub));
  }
  toc.replaceChildren(tocList);
}

main();
