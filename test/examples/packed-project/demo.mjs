// The local demo, as a user of the published @gta/core writes it: PGlite in memory, one task,
// migrate, enqueue in a transaction, and the task's row once the commit hook has run it.
import { PGlite } from '@electric-sql/pglite';
import { createTaskManager, defineTask } from '@gta/core';
import { drizzle } from 'drizzle-orm/pglite';

const client = new PGlite();
const greeted = [];
const greet = defineTask({
  key: 'greet',
  handler: async ({ name }) => {
    greeted.push(name);
  },
});
const manager = createTaskManager({ db: drizzle({ client }), tasks: [greet] });
await manager.migrate();
// Without a waitUntil, the commit hook's work is awaited before transaction() returns.
const id = await manager.transaction((tx) => manager.enqueue(greet, { name: 'ada' }, { tx }));
const task = await manager.getTask(id);
console.log(JSON.stringify({ status: task?.status, attempts: task?.attempts, greeted }));
await manager.stop();
await client.close();
