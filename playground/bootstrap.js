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

// GraphiQL introspects before the headers editor exists and then sends no
// headers at all; an endpoint that wants the token for introspection would
// leave the docs empty. Requests that do carry headers are left untouched.
function fetcher(params, opts) {
  if (
    defaultHeaders &&
    params.operationName === 'IntrospectionQuery' &&
    (!opts || opts.headers === undefined)
  ) {
    opts = { ...opts, headers: defaultHeaders };
  }
  return baseFetcher(params, opts);
}

createRoot(document.getElementById('graphiql')).render(
  createElement(GraphiQL, {
    fetcher,
    storage: tabStorage(config.defaultHeaders),
    defaultQuery: config.defaultQuery || undefined,
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
