// Apollo Client's real PersistedQueryLink against the gateway: a miss (the
// link sends the hash alone, gets PersistedQueryNotFound, resends with the
// query), a hit by POST and by GET (the hash alone is enough), and a hash
// that does not match its query (refused with PERSISTED_QUERY_HASH_MISMATCH).
// Usage: node apq.mjs URL TOKEN. Prints one line per check; exits 1 when
// one fails.
import { createHash } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error('usage: node apq.mjs URL TOKEN');
  process.exit(2);
}
const sha256 = (q) => createHash('sha256').update(q).digest('hex');
const QUERY = gql`
  query ApqProbe($first: Int) {
    contacts(first: $first) {
      edges { node { id firstName } }
    }
  }
`;

// client returns an Apollo client whose requests are recorded in sent.
function client(sent, linkOptions) {
  const fetchRecording = async (input, init) => {
    const body = init?.body ? JSON.parse(init.body) : null;
    const u = new URL(String(input));
    sent.push({
      method: init?.method || 'GET',
      hasQuery: body ? typeof body.query === 'string' : u.searchParams.has('query'),
      hasHash: body ? !!body.extensions?.persistedQuery : (u.searchParams.get('extensions') || '').includes('sha256Hash'),
      bytes: body ? init.body.length : u.search.length,
    });
    return fetch(input, init);
  };
  const http = new HttpLink({ uri: url, headers: { authorization: `Bearer ${token}` }, fetch: fetchRecording });
  return new ApolloClient({
    link: new PersistedQueryLink({ sha256, ...linkOptions }).concat(http),
    cache: new InMemoryCache(),
  });
}

let failed = 0;
function check(name, ok, detail) {
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : ': ' + JSON.stringify(detail)}`);
}
const edges = (r) => r?.data?.contacts?.edges ?? [];

// Miss, then the retry with the full query registers it.
{
  const sent = [];
  const r = await client(sent).query({ query: QUERY, variables: { first: 2 } });
  check('miss: hash alone, then the query with its hash',
    sent.length === 2 && !sent[0].hasQuery && sent[0].hasHash && sent[1].hasQuery && sent[1].hasHash, sent);
  check('miss: the retry answers data', edges(r).length === 2, r);
}
// Hit by POST: a new client, so nothing is cached client-side.
{
  const sent = [];
  const r = await client(sent).query({ query: QUERY, variables: { first: 2 } });
  check('hit (POST): one request, hash alone', sent.length === 1 && !sent[0].hasQuery && sent[0].hasHash, sent);
  check('hit (POST): data', edges(r).length === 2, r);
}
// Hit by GET.
{
  const sent = [];
  const r = await client(sent, { useGETForHashedQueries: true }).query({ query: QUERY, variables: { first: 3 } });
  check('hit (GET): one GET, hash alone', sent.length === 1 && sent[0].method === 'GET' && !sent[0].hasQuery && sent[0].hasHash, sent);
  check('hit (GET): data', edges(r).length === 3, r);
}
// Mismatch: the link's hash is not the query's.
{
  const sent = [];
  const other = gql`query ApqMismatch { contacts(first: 1) { edges { node { id } } } }`;
  let err;
  try {
    await client(sent, { sha256: () => sha256('not this query') }).query({ query: other });
  } catch (e) {
    err = e;
  }
  const codes = (err?.errors ?? []).map((e) => e.extensions?.code);
  check('mismatch: refused with PERSISTED_QUERY_HASH_MISMATCH', codes.includes('PERSISTED_QUERY_HASH_MISMATCH'), { codes, err: String(err), sent });
  check('mismatch: the link sent the hash alone, then the query', sent.length === 2 && sent[1].hasQuery, sent);
}
console.log(failed === 0 ? 'apq: every check passes' : `apq: ${failed} checks fail`);
process.exit(failed === 0 ? 0 : 1);
