// Run once per environment before deploying: `DATABASE_URL=… npm run migrate`.
import { pool } from '../src/db.js';
import { migrate } from '../src/migrate.js';

await migrate();
await pool.end();
console.log('migrated');
