// Apollo Client (v4, with its @defer incremental handler) reads a deferred
// query from the running gateway over multipart/mixed: it must see the
// contact first, with the deferred lists still streaming, then the lists,
// and end with exactly the data the same query answers whole.
//
// Env: GATEWAY_URL (the /graphql endpoint), GATEWAY_TOKEN (a sandbox token).
import assert from 'node:assert/strict';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { Defer20220824Handler } from '@apollo/client/incremental';

const url = process.env.GATEWAY_URL;
const token = process.env.GATEWAY_TOKEN;
if (!url || !token) {
  throw new Error('GATEWAY_URL and GATEWAY_TOKEN must be set');
}
const headers = { authorization: `Bearer ${token}` };

async function plain(query, variables) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  assert.equal(body.hasNext, undefined, 'a plain JSON answer must be whole');
  return body.data;
}

const first = await plain('{ contacts(first: 1) { nodes { id } } }');
const id = first.contacts.nodes[0].id;

const SNAPSHOT = `
  query Snapshot($id: ID!) {
    contact(id: $id) {
      id
      firstName
      email
      ... @defer {
        tasks { id title dueDate completed }
        notes { id body dateAdded }
      }
    }
  }`;

const client = new ApolloClient({
  link: new HttpLink({ uri: url, headers }),
  cache: new InMemoryCache(),
  incrementalHandler: new Defer20220824Handler(),
});

const emissions = [];
await new Promise((resolve, reject) => {
  const sub = client
    .watchQuery({ query: gql(SNAPSHOT), variables: { id }, fetchPolicy: 'network-only' })
    .subscribe({
      next(result) {
        if (result.error) {
          sub.unsubscribe();
          reject(result.error);
          return;
        }
        if (result.data) {
          emissions.push({ dataState: result.dataState, data: structuredClone(result.data) });
        }
        if (result.dataState === 'complete') {
          sub.unsubscribe();
          resolve();
        }
      },
      error: reject,
    });
});

const streaming = emissions.filter((e) => e.dataState === 'streaming');
assert.ok(streaming.length >= 1, `no streaming emission before the complete one: ${JSON.stringify(emissions)}`);
const early = streaming[0].data.contact;
assert.equal(early.id, id);
assert.ok(!Array.isArray(early.tasks), 'the first part already held the deferred tasks');

const done = emissions.at(-1).data;
const whole = await plain(SNAPSHOT.replace('... @defer {', '... {'), { id });
const strip = (v) => JSON.parse(JSON.stringify(v, (k, x) => (k === '__typename' ? undefined : x)));
assert.deepEqual(strip(done), strip(whole), 'Apollo\'s merged answer differs from the whole answer');
assert.ok(Array.isArray(done.contact.tasks) && Array.isArray(done.contact.notes));

console.log(`@defer via Apollo Client: ${emissions.length} emissions (${streaming.length} streaming), contact ${id}: ` +
  `${done.contact.tasks.length} tasks, ${done.contact.notes.length} notes, equal to the whole answer`);
