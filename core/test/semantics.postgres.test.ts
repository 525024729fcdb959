import { describe } from 'vitest';
import { defineSemanticsSuite } from './semantics/suite.js';
import { createPostgresDatabase, postgresAvailable } from './support/databases.js';

const hasPostgres = await postgresAvailable();
describe.skipIf(!hasPostgres)('real Postgres (node-postgres)', () => {
  defineSemanticsSuite('Postgres', () => createPostgresDatabase());
});
