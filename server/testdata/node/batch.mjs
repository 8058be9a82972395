// Apollo Client's real BatchHttpLink against the gateway: three queries
// issued together go out as one HTTP request (a JSON array) and each gets
// its own answer, in order, an error included.
// Usage: node batch.mjs URL TOKEN. Exits 1 when a check fails.
import { ApolloClient, InMemoryCache, gql } from '@apollo/client';
import { BatchHttpLink } from '@apollo/client/link/batch-http';

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error('usage: node batch.mjs URL TOKEN');
  process.exit(2);
}
let requests = 0;
const link = new BatchHttpLink({
  uri: url,
  headers: { authorization: `Bearer ${token}` },
  batchMax: 10,
  batchInterval: 20,
  fetch: (input, init) => { requests++; return fetch(input, init); },
});
const client = new ApolloClient({ link, cache: new InMemoryCache() });
const page = (n) => gql`query Page${n} { contacts(first: ${n}) { edges { node { id } } } }`;
const results = await Promise.allSettled([
  client.query({ query: page(1) }),
  client.query({ query: gql`query Bad { contact(id: "") { id } }` }),
  client.query({ query: page(3) }),
]);
let failed = 0;
function check(name, ok, detail) {
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : ': ' + JSON.stringify(detail)}`);
}
const edges = (r) => r.value?.data?.contacts?.edges?.length;
check('one HTTP request for three queries', requests === 1, { requests });
check('first answer: 1 contact', edges(results[0]) === 1, results[0]);
const badCodes = (results[1].reason?.errors ?? []).map((e) => e.extensions?.code);
check('second answer: its own error', badCodes.includes('BAD_USER_INPUT'), { codes: badCodes, reason: String(results[1].reason) });
check('third answer: 3 contacts', edges(results[2]) === 3, results[2]);
console.log(failed === 0 ? 'batch: every check passes' : `batch: ${failed} checks fail`);
process.exit(failed === 0 ? 0 : 1);
