// Bootstrap for the GraphiQL playground page.
//
// The same source runs in both modes: update-assets.sh bundles it with esbuild
// into the embedded assets, and CDN mode inlines it into the page where an
// import map resolves the bare specifiers to pinned esm.sh URLs. All settings
// come from the JSON config element so this file never needs templating.
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';

const config = JSON.parse(
  document.getElementById('graphiql-config').textContent,
);

// Monaco runs its language services in web workers it cannot locate on its
// own once bundled, so the server tells us where each one lives.
globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    const url =
      config.workers[label] !== undefined
        ? config.workers[label]
        : config.workers.editor;
    if (!config.cdnWorkers) {
      return new Worker(url);
    }
    // Browsers refuse cross-origin worker scripts; esm.sh's "?worker" modules
    // export a constructor that wraps the script in a same-origin blob.
    return import(url).then((mod) => new mod.default());
  },
};

// Headers are deliberately not persisted, so tabs restored for a returning
// user come back with empty headers. Refill them with the defaults on read so
// the headers pane is pre-filled on every visit, not only the first one.
function tabStorage(defaultHeaders) {
  let local;
  try {
    local = window.localStorage;
  } catch {
    return undefined; // storage disabled: let GraphiQL apply its own fallback
  }
  if (!defaultHeaders || !local) {
    return undefined;
  }
  const prefix = 'graphiql:';
  return {
    getItem(key) {
      const value = local.getItem(key);
      if (key !== prefix + 'tabState' || !value) {
        return value;
      }
      try {
        const state = JSON.parse(value);
        for (const tab of state.tabs || []) {
          if (!tab.headers) {
            tab.headers = defaultHeaders;
          }
        }
        return JSON.stringify(state);
      } catch {
        return value;
      }
    },
    setItem: (key, value) => local.setItem(key, value),
    removeItem: (key) => local.removeItem(key),
    get length() {
      return Object.keys(local).filter((k) => k.startsWith(prefix)).length;
    },
    clear() {
      for (const key of Object.keys(local)) {
        if (key.startsWith(prefix)) {
          local.removeItem(key);
        }
      }
    },
  };
}

const baseFetcher = createGraphiQLFetcher({
  url: new URL(config.endpoint, window.location.href).toString(),
});
const defaultHeaders = config.defaultHeaders
  ? JSON.parse(config.defaultHeaders)
  : undefined;

// Subscriptions go over a WebSocket to the gateway's own endpoint, speaking
// graphql-transport-ws, with the headers pane's headers as the
// connection_init payload (browsers cannot set headers on a WebSocket).
// Written here rather than taken from graphql-ws, which the bundle lacks.
function playgroundIsSubscription(params) {
  const src = (params.query || '').replace(/#[^\n\r]*/g, '');
  const name = (params.operationName || '').replace(/[^_0-9A-Za-z]/g, '');
  const re = name
    ? new RegExp('\\bsubscription\\s+' + name + '\\b')
    : /^\s*subscription\b/;
  return re.test(src);
}

function playgroundSubscribe(endpoint, params, opts) {
  const url = new URL(endpoint, window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return {
    subscribe(observer) {
      const sink =
        typeof observer === 'function' ? { next: observer } : observer;
      const ws = new WebSocket(url.toString(), 'graphql-transport-ws');
      const send = (msg) => ws.send(JSON.stringify(msg));
      let done = false;
      const end = (err) => {
        if (done) return;
        done = true;
        if (err && sink.error) sink.error(err);
        else if (!err && sink.complete) sink.complete();
      };
      ws.onopen = () =>
        send({ type: 'connection_init', payload: (opts && opts.headers) || {} });
      ws.onmessage = (ev) => {
        const msg = JSON.parse(ev.data);
        if (msg.type === 'connection_ack') {
          send({
            id: '1',
            type: 'subscribe',
            payload: {
              query: params.query,
              variables: params.variables,
              operationName: params.operationName,
            },
          });
        } else if (msg.type === 'ping') {
          send({ type: 'pong' });
        } else if (msg.type === 'next' && !done && sink.next) {
          sink.next(msg.payload);
        } else if (msg.type === 'error') {
          if (!done && sink.next) sink.next({ errors: msg.payload });
          end();
          ws.close(1000);
        } else if (msg.type === 'complete') {
          end();
          ws.close(1000);
        }
      };
      ws.onclose = (ev) =>
        end(
          ev.code === 1000
            ? undefined
            : new Error(
                ('subscription closed: ' + ev.code + ' ' + (ev.reason || '')).trim(),
              ),
        );
      return {
        unsubscribe() {
          if (done) return;
          done = true;
          if (ws.readyState === WebSocket.OPEN) send({ id: '1', type: 'complete' });
          ws.close(1000);
        },
      };
    },
  };
}

// GraphiQL introspects before the headers editor exists and then sends no
// headers at all; an endpoint that wants the token for introspection would
// leave the docs empty. Requests that do carry headers are left untouched.
function fetcher(params, opts) {
  if (config.subscriptionEndpoint && playgroundIsSubscription(params)) {
    return playgroundSubscribe(config.subscriptionEndpoint, params, opts);
  }
  if (
    defaultHeaders &&
    params.operationName === 'IntrospectionQuery' &&
    (!opts || opts.headers === undefined)
  ) {
    opts = { ...opts, headers: defaultHeaders };
  }
  return baseFetcher(params, opts);
}

// Tabs of examples, each with its variables and the default headers, for a
// user who has no tabs saved yet.
const defaultTabs = config.tabs
  ? config.tabs.map((tab) => ({
      query: tab.query,
      variables: tab.variables || undefined,
      headers: config.defaultHeaders || undefined,
    }))
  : undefined;

createRoot(document.getElementById('graphiql')).render(
  createElement(GraphiQL, {
    fetcher,
    storage: tabStorage(config.defaultHeaders),
    defaultQuery: config.defaultQuery || undefined,
    defaultTabs,
    defaultHeaders: config.defaultHeaders || undefined,
    // Headers usually carry bearer tokens; keep them out of localStorage.
    shouldPersistHeaders: false,
    showPersistHeadersSettings: false,
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: 'headers',
    // No plugin pane on first load: the docs explorer would take a third
    // of the width and cut the example query off; it is one click away.
  }),
);
