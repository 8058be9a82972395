// A small client of the gateway: list a few contacts, add a follow-up task
// to the first, and read its tasks back, with every request and answer
// typed by GraphQL Code Generator (src/generated.ts).
//
//   GATEWAY_URL=http://127.0.0.1:8080/graphql GATEWAY_TOKEN=... npm start
import { GraphQLClient } from 'graphql-request';
import {
  AddFollowUpDocument,
  ContactTasksDocument,
  FirstContactsDocument,
  type FirstContactsQuery,
} from './generated.js';

type Contact = FirstContactsQuery['contacts']['nodes'][number];

const url = process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080/graphql';
const token = process.env.GATEWAY_TOKEN;
if (!token) {
  throw new Error('set GATEWAY_TOKEN to a HighLevel token (the sandbox prints one at start-up)');
}

const client = new GraphQLClient(url, { headers: { authorization: `Bearer ${token}` } });

function label(c: Contact): string {
  const active = c.lastActivity ? new Date(c.lastActivity).toISOString().slice(0, 10) : 'never';
  return `${c.name ?? c.email ?? c.id} (last active ${active})`;
}

const { contacts } = await client.request(FirstContactsDocument, { first: 3 });
console.log(`${contacts.totalCount} contacts; the first ${contacts.nodes.length}:`);
for (const c of contacts.nodes) {
  console.log(`  ${label(c)}`);
}
const first = contacts.nodes[0];
if (!first) {
  throw new Error('the location has no contacts');
}

const due = new Date(Date.UTC(2030, 0, 15, 17)).toISOString();
const { createTask } = await client.request(AddFollowUpDocument, {
  contactId: first.id,
  input: { title: 'Follow up', dueDate: due },
});
console.log(`added task ${createTask.task.id} "${createTask.task.title}" due ${createTask.task.dueDate}`);

const { contact } = await client.request(ContactTasksDocument, { id: first.id });
const found = contact?.tasks?.find((t) => t.id === createTask.task.id);
if (!found || found.title !== 'Follow up' || found.completed) {
  throw new Error(`the new task is not among the contact's tasks: ${JSON.stringify(contact?.tasks)}`);
}
console.log(`${contact?.tasks?.length} tasks on ${first.id}, the new one included`);
