import { describe } from 'vitest';
import { defineDriverSuite } from '../../core/test/semantics/suite.js';
import { postgresAvailable } from '../../core/test/support/databases.js';
import { neonServerless } from '../support/drivers.js';

const hasPostgres = await postgresAvailable();
describe.skipIf(!hasPostgres)('real Postgres', () => {
  defineDriverSuite(neonServerless);
});
