// Runs graphql-http's GraphQL-over-HTTP server audit against the URL given
// as the first argument and prints one line per audit. Exits 1 when any
// MUST or SHOULD audit fails (MAY audits are reported, not required).
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}
let failed = 0;
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const required = !audit.name.startsWith('MAY');
  if (result.status === 'ok') {
    console.log(`ok   ${audit.id} ${audit.name}`);
    continue;
  }
  if (required) failed++;
  let body = '';
  if (result.response) {
    try { body = ` status=${result.response.status} body=${await result.response.text()}`; } catch { /* already read */ }
  }
  console.log(`${required ? 'FAIL' : 'may '} ${audit.id} ${audit.name}: ${result.reason}${body}`);
}
console.log(failed === 0 ? 'audit: every MUST and SHOULD passes' : `audit: ${failed} MUST/SHOULD audits fail`);
process.exit(failed === 0 ? 0 : 1);
