// GraphiQL in a real Chromium, driven by playwright-core against the
// running gateway (built-in sandbox): the page renders with no request
// leaving the machine, the example query runs and shows data, the docs
// explorer lists the schema, a subscription shows an event, no console
// error; the docs pane starts
// closed and the example query fits without scrolling sideways. A
// screenshot is kept in .ci/artifacts/.
//
// Env: GATEWAY_ROOT (e.g. http://127.0.0.1:8080/), GATEWAY_TOKEN (for the
// subscription and CORS checks: a sandbox token), PAGE_PORT (a free port
// whose origin the gateway allows, for the CORS check), CHROMIUM (the browser
// binary; default /usr/bin/chromium).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = process.env.GATEWAY_ROOT;
if (!root) {
  throw new Error('GATEWAY_ROOT must be set');
}
const artifacts = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // CI runs as root, where Chromium's own sandbox cannot start.
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const failures = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const offMachine = [];
  await context.route('**/*', (route) => {
    const { hostname, protocol } = new URL(route.request().url());
    if (protocol === 'data:' || protocol === 'blob:' || hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]') {
      return route.continue();
    }
    offMachine.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(String(err)));

  await page.goto(root, { waitUntil: 'load' });
  await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });
  const editor = page.locator('.graphiql-query-editor .monaco-editor').first();
  await editor.waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => document.querySelector('.graphiql-query-editor .view-lines')?.textContent.includes('query'), null, { timeout: 30_000 });

  // The docs pane starts closed, so the editors have the width.
  const docsOpen = await page.locator('.graphiql-doc-explorer').count();
  if (docsOpen > 0) failures.push('the docs pane is open on first load');

  // The example query fits: Monaco's content is no wider than its view.
  const fit = await page.evaluate(() => {
    const view = document.querySelector('.graphiql-query-editor .monaco-scrollable-element');
    const lines = document.querySelector('.graphiql-query-editor .lines-content');
    let widest = 0;
    for (const line of document.querySelectorAll('.graphiql-query-editor .view-line')) {
      const span = line.firstElementChild;
      if (span) widest = Math.max(widest, span.getBoundingClientRect().width);
    }
    return { view: view?.clientWidth ?? 0, content: lines?.scrollWidth ?? 0, widest };
  });
  if (!(fit.view > 0 && fit.widest <= fit.view)) {
    failures.push(`the example query is wider than its editor: widest line ${fit.widest}px, editor ${fit.view}px`);
  }

  // Run the example query and wait for data in the response pane.
  await page.locator('.graphiql-execute-button').click();
  const response = page.locator('.graphiql-response');
  await page.waitForFunction(
    () => /"data"/.test(document.querySelector('.graphiql-response')?.textContent || ''),
    null,
    { timeout: 30_000 },
  );
  const text = await response.textContent();
  if (/"errors"/.test(text)) failures.push(`the example query answered errors: ${text.slice(0, 400)}`);
  if (!/"id"/.test(text)) failures.push(`the example query shows no contact: ${text.slice(0, 400)}`);
  await page.screenshot({ path: join(artifacts, 'graphiql-query.png') });

  // The docs explorer lists the schema's root fields.
  await page.locator('button[aria-label="Show Documentation Explorer"]').click();
  const docs = page.locator('.graphiql-doc-explorer');
  await docs.waitFor({ timeout: 15_000 });
  await page.waitForFunction(() => /Query/.test(document.querySelector('.graphiql-doc-explorer')?.textContent || ''), null, { timeout: 15_000 });
  await docs.getByText('Query', { exact: true }).first().click();
  await page.waitForFunction(() => /contacts/.test(document.querySelector('.graphiql-doc-explorer')?.textContent || ''), null, { timeout: 15_000 });
  await page.screenshot({ path: join(artifacts, 'graphiql-docs.png') });

  // A subscription shows an event: subscribe in a new tab, then change a
  // contact through the gateway (its own mutations feed subscriptions).
  if (process.env.GATEWAY_TOKEN) {
    await page.locator('.graphiql-tab-add').click();
    const query = page.locator('.graphiql-query-editor .monaco-editor').first();
    await query.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.type('subscription Watch { contactsChanged { kind contactId } }');
    await page.keyboard.press('Escape');
    await page.locator('.graphiql-execute-button').click();
    const endpoint = new URL('graphql', root).toString();
    const auth = { authorization: `Bearer ${process.env.GATEWAY_TOKEN}`, 'content-type': 'application/json' };
    const post = async (q, variables) => (await (await fetch(endpoint, { method: 'POST', headers: auth, body: JSON.stringify({ query: q, variables }) })).json());
    const first = await post('{ contacts(first: 1) { nodes { id } } }');
    const id = first.data.contacts.nodes[0].id;
    let seen = false;
    for (let i = 0; i < 50 && !seen; i++) {
      await post('mutation($id: ID!, $t: String!) { updateContact(id: $id, input: { lastName: $t }) { contact { id } } }', { id, t: `Browser${i}` });
      seen = await page
        .waitForFunction((cid) => (document.querySelector('.graphiql-response')?.textContent || '').includes(cid), id, { timeout: 200 })
        .then(() => true, () => false);
    }
    const shown = await page.locator('.graphiql-response').textContent();
    if (!seen || !/contactsChanged/.test(shown)) failures.push(`the subscription showed no event: ${shown.slice(0, 300)}`);
    await page.screenshot({ path: join(artifacts, 'graphiql-subscription.png') });
  }

  // CORS with a real client: a page of another origin (PAGE_PORT, which
  // run.sh put in the gateway's -cors-origins) calls the endpoint with
  // Apollo's headers, traceparent and X-Request-ID, so Chromium sends its
  // own preflight. A context without routes, so that nothing stands in for
  // the browser's CORS handling. A header the gateway does not allow must
  // fail the same way, or the check would prove nothing.
  if (process.env.PAGE_PORT && process.env.GATEWAY_TOKEN) {
    const pageOrigin = `http://127.0.0.1:${process.env.PAGE_PORT}`;
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>another origin</title>');
    });
    await new Promise((resolve) => server.listen(Number(process.env.PAGE_PORT), '127.0.0.1', resolve));
    try {
      const other = await browser.newContext();
      const page2 = await other.newPage();
      await page2.goto(pageOrigin + '/', { waitUntil: 'load' });
      const call = (extra) => page2.evaluate(async ({ endpoint, token, extra }) => {
        try {
          const res = await fetch(endpoint, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${token}`,
              'apollographql-client-name': 'crm-web',
              'apollographql-client-version': '1.2.3',
              traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
              'x-request-id': 'cors-check-1',
              ...extra,
            },
            body: JSON.stringify({ query: '{ contacts(first: 1) { nodes { id } } }' }),
          });
          return { status: res.status, body: await res.text(), requestId: res.headers.get('x-request-id') };
        } catch (e) {
          return { error: String(e) };
        }
      }, { endpoint: new URL('graphql', root).toString(), token: process.env.GATEWAY_TOKEN, extra });
      const ok = await call({});
      if (ok.error || ok.status !== 200 || !/"id"/.test(ok.body || '')) {
        failures.push(`a cross-origin call with Apollo's headers failed: ${JSON.stringify(ok).slice(0, 300)}`);
      } else if (ok.requestId !== 'cors-check-1') {
        failures.push(`the page cannot read X-Request-Id (got ${ok.requestId})`);
      }
      const refused = await call({ 'x-not-allowed': '1' });
      if (!refused.error) failures.push(`a header outside -cors-allow-headers passed the preflight: ${JSON.stringify(refused).slice(0, 200)}`);
      await other.close();
      console.log(`CORS from ${pageOrigin}: Apollo's headers allowed, an unlisted header refused by Chromium's preflight`);
    } finally {
      server.close();
    }
  } else {
    failures.push('PAGE_PORT or GATEWAY_TOKEN not set: the cross-origin check did not run');
  }

  if (offMachine.length) failures.push(`requests off the machine: ${offMachine.join(', ')}`);
  if (consoleErrors.length) failures.push(`console errors: ${consoleErrors.join(' | ')}`);
  console.log(`GraphiQL in Chromium ${browser.version()}: editor ${fit.view}px, widest line ${Math.round(fit.widest)}px; ` +
    `screenshots in ${artifacts}`);
} finally {
  await browser.close();
}
assert.deepEqual(failures, [], failures.join('\n'));
